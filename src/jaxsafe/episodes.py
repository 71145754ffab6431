"""Running a policy for complete episodes: a pure, jittable function of a :class:`Policy`.

:func:`run_episodes` resets ``E`` environments and steps them all with the policy until each has
finished its *first* episode (a ``lax.while_loop`` bounded by the environment's horizon ``H``);
an environment is frozen, and its sums masked, from the step its episode ended. Per episode it
returns::

    return            R   = Σ_t r_t
    cost              C   = Σ_t c_t
    discounted cost   C_γ = Σ_t γ_c^t c_t
    length            L   = number of steps
    counters          Σ_t x_t for every boolean info flag x (IcyLake's ``entered_ice`` and
                      ``slipped``, EcoAnt's ``depleted``)
    first cost step   K   = min{t : c_t > 0} (0-based), L when no step costs: the episode
                      violates within T steps iff K < min(T, L)

and, optionally, a per-step recording of the environment state (positions for pictures, brax
pipeline states for a replay). Seeds are a ``jax.vmap`` of the caller, as in training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from jaxsafe import rollout
from jaxsafe.policy import Policy

RecordFn = Callable[[Any], Any]
"""``env_state (one environment) -> pytree``: what to keep of every step for the pictures."""


class EpisodeResults(NamedTuple):
    """Totals of complete episodes, every field ``[E]`` (``[S, E]`` once vmapped over seeds).

    Attributes:
      episode_return: ``Σ_t r_t``, undiscounted.
      episode_cost: ``Σ_t c_t``, undiscounted.
      discounted_cost: ``Σ_t γ_c^t c_t``.
      length: int32 number of steps.
      counters: info flag name to ``Σ_t x_t`` (float32) over the episode.
      first_cost_step: int32 steps before the first one with a cost (``length`` if none).
    """

    episode_return: jax.Array
    episode_cost: jax.Array
    discounted_cost: jax.Array
    length: jax.Array
    counters: dict[str, jax.Array]
    first_cost_step: jax.Array


class _LoopState(NamedTuple):
    """The carry of :func:`run_episodes`' while loop."""

    t: jax.Array  # int32 steps taken so far (the same for every environment)
    key: jax.Array
    env_state: Any  # leading axis [E]; frozen once an episode has ended
    observation: jax.Array  # [E, ...]
    policy_carry: Any  # the policy's carry, leading axis [E]
    active: jax.Array  # [E] bool: the episode has not ended yet
    cost_discount_factor: jax.Array  # γ_c^t
    totals: EpisodeResults
    recording: Any  # pytree of [H + 1, E, ...], or None


def horizon(env_params: Any) -> int:
    """The longest possible episode, ``env_params.max_steps_in_episode``, as a Python int."""
    return int(jax.device_get(env_params.max_steps_in_episode))


def run_episodes(
    policy: Policy,
    env: Any,
    env_params: Any,
    key: jax.Array,
    num_episodes: int,
    *,
    deterministic: bool = False,
    cost_discount: float | jax.Array = 1.0,
    max_steps: int | None = None,
    record: RecordFn | None = None,
) -> tuple[EpisodeResults, Any]:
    """Runs one complete episode in each of ``num_episodes`` freshly reset environments.

    Every environment is reset from its own key and stepped with ``policy`` until its
    episode terminates or is truncated; from then on it is frozen and adds nothing. The loop
    stops when every episode has ended, and at the latest after ``max_steps`` steps, where any
    episode still running counts as truncated (with ``max_steps`` equal to the environment's
    horizon, the default, that never cuts an episode short).

    Args:
      policy: the policy to run (``algorithm.policy(state)`` of ONE seed's state; vmap this
        function over seeds); it acts on ``[E, ...]`` observations.
      env, env_params: the gymnax environment trained on and its params (concrete unless
        ``max_steps`` is given).
      key: PRNG key for resets, environment noise and (stochastic) actions.
      num_episodes: ``E``, the number of environments, one episode each.
      deterministic: act with the policy's mode rather than a sample.
      cost_discount: ``γ_c`` of the discounted cost; may be traced.
      max_steps: ``H``, the loop bound; ``env_params.max_steps_in_episode`` by default.
      record: optional ``env_state -> pytree`` for one environment; its values at the reset
        state and after every step are returned.

    Returns:
      ``(results, recording)``: the per-episode :class:`EpisodeResults`, every field ``[E]``,
      and the recording, a pytree of ``[H + 1, E, ...]`` arrays whose row ``t`` is the state
      after ``t`` steps, valid for ``t ≤ length`` (later rows repeat the final state); ``None``
      without ``record``.
    """
    max_steps = horizon(env_params) if max_steps is None else max_steps
    counter_names = rollout.episode_counter_names(env, env_params)
    step_envs = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    truncated_envs = jax.vmap(env.is_truncated, in_axes=(0, None))
    record_envs = jax.vmap(record) if record is not None else None

    key_reset, key = jax.random.split(key)
    observation, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, num_episodes), env_params
    )
    policy_carry = policy.init_carry(jax.random.fold_in(key_reset, 1), num_episodes)
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    recording = None
    if record_envs is not None:
        recording = jax.tree.map(
            lambda leaf: jnp.zeros((max_steps + 1, *leaf.shape), leaf.dtype).at[0].set(leaf),
            record_envs(env_state),
        )
    loop = _LoopState(
        t=jnp.int32(0),
        key=key,
        env_state=env_state,
        observation=observation,
        policy_carry=policy_carry,
        active=jnp.ones((num_episodes,), bool),
        cost_discount_factor=jnp.float32(1.0),
        totals=EpisodeResults(
            episode_return=zeros,
            episode_cost=zeros,
            discounted_cost=zeros,
            length=jnp.zeros((num_episodes,), jnp.int32),
            counters={name: zeros for name in counter_names},
            first_cost_step=jnp.zeros((num_episodes,), jnp.int32),
        ),
        recording=recording,
    )

    def running(loop: _LoopState) -> jax.Array:
        return jnp.any(loop.active) & (loop.t < max_steps)

    def one_step(loop: _LoopState) -> _LoopState:
        key, key_policy, key_env = jax.random.split(loop.key, 3)
        policy_carry, action, _ = policy.step(
            loop.policy_carry, loop.observation, key_policy, deterministic
        )
        observation, env_state, reward, terminated, info = step_envs(
            jax.random.split(key_env, num_episodes), loop.env_state, action, env_params
        )
        t = loop.t + 1
        done = terminated | truncated_envs(env_state, env_params) | (t >= max_steps)

        # Sums of the steps taken while the episode was still running.
        active = loop.active

        def add(total: jax.Array, x: jax.Array) -> jax.Array:
            return total + jnp.where(active, x, 0).astype(total.dtype)

        totals = loop.totals
        clean = (totals.first_cost_step == totals.length) & (info["cost"] <= 0)
        totals = EpisodeResults(
            episode_return=add(totals.episode_return, reward),
            episode_cost=add(totals.episode_cost, info["cost"]),
            discounted_cost=add(totals.discounted_cost, loop.cost_discount_factor * info["cost"]),
            length=add(totals.length, jnp.ones_like(totals.length)),
            counters={name: add(total, info[name]) for name, total in totals.counters.items()},
            first_cost_step=add(totals.first_cost_step, clean),
        )

        # Environments whose episode had already ended stay where they were.
        env_state = _where_active(active, env_state, loop.env_state)
        observation = _where_active(active, observation, loop.observation)
        recording = loop.recording
        if record_envs is not None:
            recording = jax.tree.map(
                lambda rows, row: rows.at[t].set(row), recording, record_envs(env_state)
            )
        return _LoopState(
            t=t,
            key=key,
            env_state=env_state,
            observation=observation,
            policy_carry=policy_carry,
            active=active & ~done,
            cost_discount_factor=loop.cost_discount_factor * cost_discount,
            totals=totals,
            recording=recording,
        )

    loop = jax.lax.while_loop(running, one_step, loop)
    chex.assert_shape(
        [loop.totals.episode_return, loop.totals.discounted_cost, loop.totals.length],
        (num_episodes,),
    )
    return loop.totals, loop.recording


def _where_active(active: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``active`` [E], else ``old``, leaf by leaf (leaves ``[E, ...]``)."""

    def select(new_leaf: jax.Array, old_leaf: jax.Array) -> jax.Array:
        mask = active.reshape(active.shape + (1,) * (new_leaf.ndim - 1))
        return jnp.where(mask, new_leaf, old_leaf)

    return jax.tree.map(select, new, old)
