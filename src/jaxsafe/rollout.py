"""Collecting experience: ``lax.scan`` over time of a vmapped environment step.

The environments reset themselves (gymnax 1.0), so a rollout is a plain scan of a
:class:`jaxsafe.policy.Policy`; the policy's carry restarts (``init_carry``) in every environment
whose episode ended. Each step records what every on-policy learner needs: the raw observation,
the action and its log-probability, the policy's other per-step extras,
reward and cost, the *separate* terminated and truncated flags, and the true next observation
(``info["final_observation"]``, the pre-reset observation) from which values are bootstrapped at
truncations and at the batch cut. It also records the episode's discounted cost so far and
γ_c^t, the augmented-state features that risk-constrained methods (CVaR-PPO, VaR-CPO) use.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxsafe import episode_statistics
from jaxsafe.episode_statistics import EpisodeAccumulator, EpisodeRecord
from jaxsafe.policy import Policy

_NOT_COUNTERS = ("terminated", "truncated")


class RunnerState(NamedTuple):
    """The environments between two rollouts."""

    env_state: Any  # the environments' own state, leading axis [N]
    observation: jax.Array  # [N, ...] the current, unnormalised observation
    episodes: EpisodeAccumulator  # running per-episode sums, [N]
    policy_carry: Any = ()  # the acting policy's per-episode memory, leading axis [N]


class Trajectory(NamedTuple):
    """One rollout, every field ``[T, N, ...]``."""

    observation: jax.Array  # s_t, unnormalised
    action: jax.Array
    log_prob: jax.Array  # log π_k(a_t | s_t) of the behaviour policy
    reward: jax.Array
    cost: jax.Array
    terminated: jax.Array  # bool: s'_t is terminal
    truncated: jax.Array  # bool: the time limit ended the episode at s'_t
    next_observation: jax.Array  # s'_t, the pre-reset observation
    cost_so_far: jax.Array  # Σ_{k<t} γ_c^k c_k within the episode, before step t
    cost_discount: jax.Array  # γ_c^t at step t of the episode
    extras: dict[str, jax.Array] = {}  # the policy's other per-step extras (e.g. rejections)


def episode_counter_names(env, env_params) -> tuple[str, ...]:
    """Boolean ``info`` flags of ``env`` (IcyLake's ``entered_ice``, ...), summed per episode."""
    key = jax.random.key(0)

    def one_step(key):
        _, state = env.reset(key, env_params)
        action = env.action_space(env_params).sample(key)
        return env.step(key, state, action, env_params)[-1]

    info = jax.eval_shape(one_step, key)
    return tuple(
        sorted(
            name
            for name, value in info.items()
            if name not in _NOT_COUNTERS and getattr(value, "dtype", None) == jnp.bool_
        )
    )


def reset(
    env,
    env_params,
    key: jax.Array,
    num_envs: int,
    counter_names: tuple[str, ...],
    policy_carry: Any = (),
) -> RunnerState:
    """``num_envs`` freshly reset environments (and the acting policy's initial carry)."""
    observation, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key, num_envs), env_params
    )
    episodes = episode_statistics.init(num_envs, counter_names)
    return RunnerState(env_state, observation, episodes, policy_carry)


def restart_carry(policy: Policy, carry: Any, done: jax.Array, key: jax.Array) -> Any:
    """``carry`` with a fresh ``policy.init_carry`` wherever ``done`` [N] (an episode ended)."""
    if not jax.tree.leaves(carry):
        return carry
    fresh = policy.init_carry(key, done.shape[0])

    def select(fresh_leaf, leaf):
        mask = done.reshape(done.shape + (1,) * (leaf.ndim - 1))
        return jnp.where(mask, fresh_leaf, leaf)

    return jax.tree.map(select, fresh, carry)


def collect(
    env,
    env_params,
    policy: Policy,
    runner: RunnerState,
    key: jax.Array,
    num_steps: int,
    discount: float | jax.Array,
    cost_discount: float | jax.Array,
) -> tuple[RunnerState, Trajectory, EpisodeRecord]:
    """Steps all environments ``num_steps`` times with ``policy`` (sampling its actions).

    Returns:
        The runner after the rollout, the trajectory ``[T, N, ...]`` and the episode records
        ``[T, N]`` (valid where an episode ended; see :mod:`jaxsafe.episode_statistics`).
    """
    num_envs = runner.observation.shape[0]
    step_envs = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def one_step(runner: RunnerState, key: jax.Array):
        key_policy, key_env = jax.random.split(key)
        carry, action, extras = policy.step(
            runner.policy_carry, runner.observation, key_policy, False
        )
        extras = dict(extras)
        log_prob = extras.pop("log_prob")
        next_obs, env_state, reward, terminated, truncated, info = step_envs(
            jax.random.split(key_env, num_envs), runner.env_state, action, env_params
        )
        episodes, record = episode_statistics.step(
            runner.episodes,
            reward,
            info["cost"],
            info,
            terminated | truncated,
            discount,
            cost_discount,
        )
        carry = restart_carry(
            policy, carry, terminated | truncated, jax.random.fold_in(key_policy, 1)
        )
        transition = Trajectory(
            observation=runner.observation,
            action=action,
            log_prob=log_prob,
            extras=extras,
            reward=reward,
            cost=info["cost"],
            terminated=terminated,
            truncated=truncated,
            next_observation=info["final_observation"],
            cost_so_far=runner.episodes.discounted_cost,
            cost_discount=runner.episodes.cost_discount_factor,
        )
        return RunnerState(env_state, next_obs, episodes, carry), (transition, record)

    runner, (trajectory, records) = jax.lax.scan(one_step, runner, jax.random.split(key, num_steps))
    return runner, trajectory, records
