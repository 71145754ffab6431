"""Learning checks on the navigation tasks (slow: run with ``pytest -m slow``).

PPO on ``PointGoal-v1`` level 1 must collect clearly more return than a uniformly random policy,
and PPO-Lagrangian on ``PointTrap-v1`` must reach the goal in most episodes while dying less often
than unconstrained PPO, which takes the short way through the traps. Budgets are modest (a few
minutes each on a 2-core CPU); the numbers measured when these tests were written are in
``envs/README.md``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.config import make_config
from jaxsafe.evaluation import run_episodes
from jaxsafe.train import make_algorithm, make_train

NUM_EVAL_EPISODES = 500


def _config(algo_name: str, env_name: str, total_timesteps: int, **env_kwargs):
    config = make_config(algo_name, env_name, **env_kwargs)
    config.total_timesteps = total_timesteps
    config.algo.num_envs = 32
    config.algo.num_steps = 256
    config.algo.num_minibatches = 8
    config.algo.num_epochs = 10
    config.log.progress = False
    return config


def _train_and_evaluate(config, seed: int = 0):
    """The trained policy's evaluation episodes (stochastic actions) and the training metrics."""
    state, metrics = jax.jit(make_train(config))(jax.random.key(seed))
    algorithm = make_algorithm(config)
    results, _ = jax.jit(
        lambda state, key: run_episodes(
            algorithm, algorithm.env, algorithm.env_params, state, key, NUM_EVAL_EPISODES
        )
    )(state, jax.random.key(seed + 1000))
    return jax.device_get(results), jax.device_get(metrics)


def _random_policy_returns(env_name: str, num_episodes: int, **env_kwargs) -> np.ndarray:
    """Returns of whole episodes under uniformly random actions."""
    import jaxsafe_envs

    env, params = jaxsafe_envs.make(env_name, **env_kwargs)
    horizon = int(params.max_steps_in_episode)

    def episode(key):
        key_reset, key_steps = jax.random.split(key)
        _, state = env.reset(key_reset, params)

        def one(carry, key):
            state, total, alive = carry
            key_action, key_step = jax.random.split(key)
            action = env.action_space(params).sample(key_action)
            _, state, reward, terminated, truncated, _ = env.step(key_step, state, action, params)
            total = total + jnp.where(alive, reward, 0.0)
            return (state, total, alive & ~(terminated | truncated)), None

        init = (state, jnp.float32(0.0), jnp.bool_(True))
        (_, total, _), _ = jax.lax.scan(one, init, jax.random.split(key_steps, horizon))
        return total

    keys = jax.random.split(jax.random.key(123), num_episodes)
    return np.asarray(jax.jit(jax.vmap(episode))(keys))


@pytest.mark.slow
def test_ppo_improves_point_goal_level1_well_above_random():
    config = _config("ppo", "PointGoal-v1", 3_000_000, level=1)
    results, _ = _train_and_evaluate(config)
    random_returns = _random_policy_returns("PointGoal-v1", 200, level=1)
    trained = float(results.episode_return.mean())
    goals = float(results.counters["goal_reached"].mean())
    print(
        f"PointGoal-v1 level 1: PPO return {trained:.2f} ({goals:.2f} goals/episode, "
        f"cost {results.episode_cost.mean():.1f}); random {random_returns.mean():.2f}"
    )
    # Each goal is worth its 1.0 bonus plus ~1.5 of distance; a random policy reaches ~none.
    assert trained >= random_returns.mean() + 2.0
    assert goals >= 1.0


@pytest.mark.slow
def test_ppo_lagrangian_reaches_the_trap_maze_goal_with_fewer_deaths_than_ppo():
    outcome = {}
    for algo_name in ("ppo", "ppo_lag"):
        config = _config(algo_name, "PointTrap-v1", 4_000_000)
        if algo_name == "ppo_lag":
            config.algo.cost_limit = 0.0  # no deaths: CSC's failure constraint at its strictest
            config.algo.lagrange_learning_rate = 0.1
        results, metrics = _train_and_evaluate(config)
        deaths_in_training = float(np.sum(metrics["episode/died"] * metrics["episode/count"]))
        outcome[algo_name] = {
            "success": float((results.counters["success"] > 0).mean()),
            "died": float((results.counters["died"] > 0).mean()),
            "in_trap": float((results.counters["in_trap"] > 0).mean()),
            "return": float(results.episode_return.mean()),
            "training_deaths": deaths_in_training,
        }
    print(f"PointTrap-v1: {outcome}")
    ppo, lag = outcome["ppo"], outcome["ppo_lag"]
    assert lag["success"] >= 0.75
    # Fewer deaths, by more than the sampling noise of 500 episodes at these rates.
    assert lag["died"] + 0.03 <= ppo["died"]
