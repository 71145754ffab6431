"""The public policy: how every trained algorithm acts, in training, evaluation and from Python.

A :class:`Policy` is a pair of pure functions over a per-environment *carry*:

    init_carry(key, num_envs) -> carry
    step(carry, observation [N, ...], key, deterministic) -> (carry, action [N, ...], extras)

``extras`` is a dict of ``[N]`` arrays; every policy returns ``extras["log_prob"]``, the
log-probability of the action under the policy that chose it (what on-policy learners need), and
an algorithm may add what it logs per step (e.g. CSC's rejections). The carry holds what a
policy remembers within an episode (the flipping policy's coin); a memoryless policy uses ``()``.
Rollouts (:func:`jaxsafe.rollout.collect`), evaluation (:mod:`jaxsafe.episodes`), the
benchmarks and :func:`jaxsafe.workdir.load_policy` act only through this interface, so they
never look into an algorithm's state: ``algorithm.policy(state)`` returns the policy of a state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax

from jaxsafe import normalization

Carry = Any
Extras = dict[str, jax.Array]


class Policy(NamedTuple):
    """A (possibly stateful) policy acting in ``N`` environments at once."""

    init_carry: Callable[[jax.Array, int], Carry]
    """``(key, num_envs) -> carry``: the carry at the start of every environment's episode."""
    step: Callable[[Carry, jax.Array, jax.Array, bool], tuple[Carry, jax.Array, Extras]]
    """``(carry, observation [N, ...], key, deterministic) -> (carry, action [N, ...], extras)``;
    ``deterministic`` is a Python bool (the mode instead of a sample)."""


def no_carry(key: jax.Array, num_envs: int) -> tuple:
    """The carry of a memoryless policy."""
    return ()


def network_policy(
    network: nn.Module,
    params: Any,
    normalizer: normalization.RunningMeanStd | None,
) -> Policy:
    """The memoryless policy of a flax policy network (:func:`jaxsafe.networks.make_policy`).

    Args:
        network: maps ``[N, D]`` observations to a distrax distribution of batch shape ``[N]``.
        params: its parameters.
        normalizer: running observation statistics applied before the network, or ``None``
            when the algorithm trains on raw observations.
    """

    def step(carry: tuple, observation: jax.Array, key: jax.Array, deterministic: bool = False):
        if normalizer is not None:
            observation = normalization.normalize(normalizer, observation)
        distribution = network.apply(params, observation)
        if deterministic:
            action = distribution.mode()
            return carry, action, {"log_prob": distribution.log_prob(action)}
        action, log_prob = distribution.sample_and_log_prob(seed=key)
        return carry, action, {"log_prob": log_prob}

    return Policy(init_carry=no_carry, step=step)
