"""The flipping-based policy's pieces against independent references: the two-member LP against
``scipy.optimize.linprog``, and both execution modes on a toy environment whose values are known.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from flax import struct
from gymnax.environments import environment, spaces

from jaxsafe import rollout
from jaxsafe.episodes import run_episodes
from jaxsafe.flip_report import wilson_interval
from jaxsafe.flipping import (
    Mixture,
    flipping_policy,
    member_weights,
    solve_two_member_lp,
)
from jaxsafe.policy import Policy, no_carry

# ---------------------------------------------------------------------------------------------
# The LP
# ---------------------------------------------------------------------------------------------


def _linprog(returns: np.ndarray, costs: np.ndarray, budget: float):
    """max ν·J s.t. ν·c ≤ b, Σν = 1, 0 ≤ ν ≤ 1 by HiGHS; ``None`` when infeasible."""
    size = len(returns)
    result = scipy.optimize.linprog(
        -returns,
        A_ub=costs[None, :],
        b_ub=[budget],
        A_eq=np.ones((1, size)),
        b_eq=[1.0],
        bounds=[(0.0, 1.0)] * size,
        method="highs",
    )
    return None if result.status == 2 else -result.fun


def _instances(rng: np.random.Generator, count: int):
    """Random frontiers, a third of them degenerate (repeated costs or returns, the budget on a
    member's cost) and some infeasible (the budget below every cost)."""
    for index in range(count):
        size = int(rng.integers(1, 9))
        returns = rng.uniform(0.0, 1.0, size)
        costs = rng.uniform(0.0, 1.0, size)
        budget = float(rng.uniform(-0.2, 1.1))
        kind = index % 6
        if kind == 1:  # repeated costs
            costs = rng.choice([0.2, 0.5, 0.8], size)
        elif kind == 2:  # repeated returns
            returns = rng.choice([0.3, 0.6], size)
        elif kind == 3:  # the budget exactly on a member's cost
            budget = float(costs[rng.integers(size)])
        elif kind == 4:  # infeasible
            budget = float(costs.min() - rng.uniform(0.01, 0.5))
        yield returns.astype(np.float32), costs.astype(np.float32), np.float32(budget)


def test_closed_form_lp_matches_linprog_on_random_frontiers():
    instances = list(_instances(np.random.default_rng(0), 510))
    solve = jax.jit(jax.vmap(solve_two_member_lp))
    solutions = {}
    for size in {len(returns) for returns, _, _ in instances}:  # one vmapped call per S
        group = [index for index, instance in enumerate(instances) if len(instance[0]) == size]
        batch = [np.stack([instances[index][part] for index in group]) for part in range(3)]
        solved = jax.device_get(solve(*batch))
        for row, index in enumerate(group):
            solutions[index] = jax.tree.map(lambda leaf, row=row: leaf[row], solved)
    infeasible = degenerate_checked = 0
    for index, (returns, costs, budget) in enumerate(instances):
        solution = solutions[index]
        expected = _linprog(returns.astype(np.float64), costs.astype(np.float64), float(budget))
        weights = np.asarray(member_weights(solution.mixture, len(returns)), np.float64)
        assert np.count_nonzero(weights) <= 2
        assert abs(weights.sum() - 1.0) < 1e-6 and np.all(weights >= 0.0)
        if expected is None:
            infeasible += 1
            assert not solution.feasible
            assert solution.mixture.first == solution.mixture.second == np.argmin(costs)
            continue
        degenerate_checked += index % 6 in (1, 2, 3)
        assert solution.feasible
        assert abs(float(solution.value) - expected) <= 1e-6, (index, returns, costs, budget)
        assert abs(weights @ returns - expected) <= 1e-6
        assert weights @ costs <= budget + 1e-6
    assert infeasible >= 100 and degenerate_checked >= 200  # the instance mix is as intended


def test_lp_hand_worked_pair_and_vmap():
    # Frontier (c, J): (0, 1), (2, 5), (4, 6). At b = 1 the pair (0, 2) with w = 1/2 gives 3;
    # at b = 3 the pair (2, 4) gives 5.5, but (0, 4) gives 1/4 + 4.5 = 4.75: the best is 5.5.
    returns = jnp.array([1.0, 5.0, 6.0])
    costs = jnp.array([0.0, 2.0, 4.0])
    solution = jax.vmap(solve_two_member_lp, in_axes=(None, None, 0))(
        returns, costs, jnp.array([1.0, 3.0, 5.0])
    )
    np.testing.assert_array_equal(solution.mixture.first, [0, 1, 2])
    np.testing.assert_array_equal(solution.mixture.second, [1, 2, 2])
    np.testing.assert_allclose(solution.mixture.weight, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(solution.value, [3.0, 5.5, 6.0])
    np.testing.assert_allclose(solution.cost, [1.0, 3.0, 4.0])


# ---------------------------------------------------------------------------------------------
# Execution on a toy environment: reward = cost = the action, H = 10 steps
# ---------------------------------------------------------------------------------------------

HORIZON = 10


@struct.dataclass
class ToyParams:
    max_steps_in_episode: int = HORIZON


@struct.dataclass
class ToyState:
    time: jax.Array


class Toy(environment.Environment):
    """Every step pays the action (0 or 1) as reward and as cost; never terminates."""

    @property
    def default_params(self) -> ToyParams:
        return ToyParams()

    def action_space(self, params=None):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)

    def observation_space(self, params=None):
        return spaces.Box(0.0, 1.0, (1,), jnp.float32)

    def reset_env(self, key, params):
        return jnp.zeros((1,), jnp.float32), ToyState(time=jnp.int32(0))

    def step_env(self, key, state, action, params):
        state = ToyState(time=state.time + 1)
        observation = jnp.full((1,), state.time / HORIZON, jnp.float32)
        value = action[0]
        return observation, state, value, jnp.bool_(False), {"cost": value}


def constant(value: float) -> Policy:
    def step(carry, observation, key, deterministic=False):
        action = jnp.full((observation.shape[0], 1), value, jnp.float32)
        return carry, action, {"log_prob": jnp.zeros(observation.shape[0])}

    return Policy(no_carry, step)


WEIGHT = 0.3  # ν on the action-0 member (return 0), so E[R] = (1 − ν) · 10 = 7 per episode
EPISODES = 4000


def _episodes(mode: str):
    policy = flipping_policy(constant(0.0), constant(1.0), WEIGHT, mode)
    env = Toy()
    results, _ = jax.jit(lambda key: run_episodes(policy, env, env.default_params, key, EPISODES))(
        jax.random.PRNGKey(3)
    )
    return np.asarray(results.episode_return), np.asarray(results.episode_cost)


def test_per_episode_mixture_is_the_convex_combination_of_the_members():
    returns, costs = _episodes("per_episode")
    np.testing.assert_array_equal(returns, costs)
    assert set(np.unique(returns)) <= {0.0, float(HORIZON)}  # one member per whole episode
    # (J, C) of the members: (0, 0) and (10, 10); the mixture: (1 − ν) · 10 each.
    interval = wilson_interval(int((returns == HORIZON).sum()), EPISODES)
    assert interval["low"] <= 1 - WEIGHT <= interval["high"]


def test_per_step_flips_with_the_weight_and_switches_within_episodes():
    returns, _ = _episodes("per_step")
    steps_on_second = int(returns.sum())  # each step on member 2 pays 1
    interval = wilson_interval(steps_on_second, EPISODES * HORIZON)
    assert interval["low"] <= 1 - WEIGHT <= interval["high"]
    mixed = (returns > 0) & (returns < HORIZON)
    assert mixed.mean() > 0.9  # P(all 10 coins equal) = 0.3¹⁰ + 0.7¹⁰ ≈ 0.028


def test_per_episode_coin_is_kept_within_episodes_and_redrawn_at_auto_reset():
    env = Toy()
    params = env.default_params
    policy = flipping_policy(constant(0.0), constant(1.0), WEIGHT, "per_episode")
    num_envs, episodes = 500, 4
    key_reset, key_carry, key_collect = jax.random.split(jax.random.PRNGKey(5), 3)
    runner = rollout.reset(
        env, params, key_reset, num_envs, (), policy.init_carry(key_carry, num_envs)
    )
    _, trajectory, _ = jax.jit(
        lambda runner, key: rollout.collect(
            env, params, policy, runner, key, episodes * HORIZON, 0.99, 0.99
        )
    )(runner, key_collect)
    first = np.asarray(trajectory.extras["flip/first"]).reshape(episodes, HORIZON, num_envs)
    np.testing.assert_array_equal(first, first[:, :1, :].repeat(HORIZON, axis=1))
    per_episode = first[:, 0, :]  # [episodes, N]
    interval = wilson_interval(int(per_episode.sum()), per_episode.size)
    assert interval["low"] <= WEIGHT <= interval["high"]
    assert (per_episode != per_episode[:1]).any(axis=0).mean() > 0.5  # re-drawn at resets


def test_flipping_policy_jit_vmap_and_weight_extremes():
    observation = jnp.zeros((64, 1))

    def actions(weight, key):
        policy = flipping_policy(constant(0.0), constant(1.0), weight, "per_step")
        carry = policy.init_carry(key, 64)
        return policy.step(carry, observation, key, False)[1][:, 0]

    out = jax.jit(jax.vmap(actions, in_axes=(0, None)))(
        jnp.array([0.0, 1.0]), jax.random.PRNGKey(0)
    )
    np.testing.assert_array_equal(out[0], np.ones(64))  # ν = 0: always the second
    np.testing.assert_array_equal(out[1], np.zeros(64))  # ν = 1: always the first
    with pytest.raises(ValueError, match="flip mode"):
        flipping_policy(constant(0.0), constant(1.0), 0.5, "sometimes")


def test_member_weights():
    weights = member_weights(Mixture(jnp.int32(2), jnp.int32(0), jnp.float32(0.25)), 4)
    np.testing.assert_allclose(weights, [0.75, 0.0, 0.25, 0.0])
