"""An on-device replay ring: a fixed-capacity circular buffer of transitions in the carried state.

CSC's safety critic learns from every transition seen since the start of training (its
𝒟_env, ALGORITHMS.md §C.7), not only from the latest on-policy batch. The buffer is a pytree of
``[capacity, ...]`` arrays with a write position and a fill level, so that inserting and sampling
are pure functions inside the jitted update, and a checkpoint of the training state holds it
(a resumed run samples exactly what an uninterrupted one would).

- :func:`insert` writes a whole batch of ``B`` transitions at positions
  ``(position + i) mod capacity``, i = 0, …, B − 1 (a ``[T, N]`` batch in time-major order,
  ``i = t N + n``), overwriting the oldest once the ring is full;
- :func:`sample` draws indices uniformly from the ``size`` filled slots, with replacement.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    """One environment step (s, a, s′, r, c, terminated, truncated); raw, unnormalised s, s′."""

    observation: jax.Array
    action: jax.Array
    next_observation: jax.Array
    reward: jax.Array
    cost: jax.Array
    terminated: jax.Array  # bool: s′ is terminal (no bootstrapping from it)
    truncated: jax.Array  # bool: the time limit ended the episode at s′ (bootstrap from s′)


class ReplayBuffer(NamedTuple):
    """The ring: ``data`` with leading ``[capacity]`` axes, the next write slot, the fill level."""

    data: Transition
    position: jax.Array  # int32 in [0, capacity)
    size: jax.Array  # int32 in [0, capacity]

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.data)[0].shape[0]


def init(capacity: int, example: Transition) -> ReplayBuffer:
    """An empty ring of ``capacity`` transitions shaped like ``example`` (one transition)."""
    if capacity < 1:
        raise ValueError(f"replay capacity must be at least 1, got {capacity}")
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
    )
    return ReplayBuffer(data, jnp.int32(0), jnp.int32(0))


def insert(buffer: ReplayBuffer, transitions: Transition) -> ReplayBuffer:
    """``buffer`` with the ``[T, N, ...]`` (or ``[B, ...]``) ``transitions`` written in order.

    The batch is flattened over its leading axes to ``B = T N`` transitions (time-major), which
    must not exceed the capacity.
    """
    capacity = buffer.capacity
    leading = transitions.reward.shape
    count = math.prod(leading)
    if count > capacity:
        raise ValueError(f"a batch of {count} transitions does not fit a ring of {capacity}")
    flat = jax.tree.map(lambda x: x.reshape(count, *x.shape[len(leading) :]), transitions)
    chex.assert_trees_all_equal_structs(flat, buffer.data)
    slots = (buffer.position + jnp.arange(count, dtype=jnp.int32)) % capacity
    data = jax.tree.map(lambda stored, new: stored.at[slots].set(new), buffer.data, flat)
    return ReplayBuffer(
        data,
        (buffer.position + count) % capacity,
        jnp.minimum(buffer.size + count, capacity).astype(jnp.int32),
    )


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Transition:
    """``batch_size`` transitions drawn uniformly, with replacement, from the filled slots.

    An empty ring returns slot 0 (zeros); callers sample only after an insert.
    """
    indices = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda stored: stored[indices], buffer.data)


def transitions_of(trajectory: Any) -> Transition:
    """The :class:`Transition` fields of a rollout :class:`jaxsafe.rollout.Trajectory`."""
    return Transition(
        observation=trajectory.observation,
        action=trajectory.action,
        next_observation=trajectory.next_observation,
        reward=trajectory.reward,
        cost=trajectory.cost,
        terminated=trajectory.terminated,
        truncated=trajectory.truncated,
    )
