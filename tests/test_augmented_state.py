"""CostAugmentedEnv against a plain Python loop over IcyLake episodes (VARCPO.md §2, eq. 28)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsafe_envs
from jaxsafe.augmented_state import (
    NUM_FEATURES,
    CostAugmentedEnv,
    CostAugmentedState,
    inner_state,
    unwrapped,
)

MAX_STEPS = 7
COST_DISCOUNT = 0.9
COST_SCALE = 4.0
NUM_STEPS = 40
# 4×4 IcyLake, actions 0 left, 1 down, 2 right, 3 up; the goal is 6 moves away.
TO_GOAL = [2, 2, 2, 1, 1, 1]  # terminates at t = 6 < T
BUMP_THEN_GOAL = [0, *TO_GOAL]  # a wall bump first: terminates at t = 7 = T, truncated too


def _make():
    # Snow-cost noise and slips give every step a different cost.
    env, params = jaxsafe_envs.make("IcyLake-v1", max_steps_in_episode=MAX_STEPS, snow_cost_std=0.5)
    return env, CostAugmentedEnv(env, COST_DISCOUNT, COST_SCALE), params


def _actions(rng):
    """[N, NUM_STEPS]: two scripted goal-seekers, the rest random (truncated at T)."""
    actions = rng.integers(0, 4, size=(5, NUM_STEPS))
    actions[0] = np.resize(TO_GOAL, NUM_STEPS)
    actions[1] = np.resize(BUMP_THEN_GOAL, NUM_STEPS)
    return actions


@pytest.fixture(scope="module")
def rollout():
    """The wrapped and the bare environment stepped side by side, jitted and vmapped."""
    env, wrapped, params = _make()
    actions = jnp.asarray(_actions(np.random.default_rng(0)), jnp.int32)
    keys = jax.random.split(jax.random.PRNGKey(0), actions.shape[0])

    def one_env(key, actions):
        key_reset, key = jax.random.split(key)
        obs, state = wrapped.reset(key_reset, params)
        bare_obs, bare_state = env.reset(key_reset, params)

        def step(carry, inputs):
            obs, state, bare_obs, bare_state = carry
            key, action = inputs
            next_obs, state, reward, terminated, truncated, info = wrapped.step(
                key, state, action, params
            )
            bare = env.step(key, bare_state, action, params)
            out = {
                "obs": obs,
                "next_obs": next_obs,
                "final_obs": info["final_observation"],
                "cost": info["cost"],
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "bare_obs": bare_obs,
                "bare_next_obs": bare[0],
                "bare_final_obs": bare[5]["final_observation"],
                "bare_cost": bare[5]["cost"],
                "bare_reward": bare[2],
                "bare_terminated": bare[3],
                "bare_truncated": bare[4],
            }
            return (next_obs, state, bare[0], bare[1]), out

        inputs = (jax.random.split(key, actions.shape[0]), actions)
        _, out = jax.lax.scan(step, (obs, state, bare_obs, bare_state), inputs)
        return out

    out = jax.jit(jax.vmap(one_env))(keys, actions)
    return {name: np.asarray(value) for name, value in jax.device_get(out).items()}


def _reference_features(cost, done):
    """[C_t/d, γ^t, t/T] before each step and right after it, from a plain loop."""
    before, after = [], []
    cost_so_far, discount_t, t = 0.0, 1.0, 0
    for c, d in zip(cost, done, strict=True):
        before.append([cost_so_far / COST_SCALE, discount_t, t / MAX_STEPS])
        cost_so_far += discount_t * float(c)
        discount_t *= COST_DISCOUNT
        t += 1
        after.append([cost_so_far / COST_SCALE, discount_t, t / MAX_STEPS])
        if d:
            cost_so_far, discount_t, t = 0.0, 1.0, 0
    return np.array(before), np.array(after)


def test_rollout_hits_termination_truncation_and_both_at_once(rollout):
    terminated, truncated = rollout["terminated"], rollout["truncated"]
    assert terminated[0].sum() >= 5 and not truncated[0].any()
    assert (terminated[1] & truncated[1]).sum() >= 4
    assert (truncated[2:] & ~terminated[2:]).sum() >= 10
    assert rollout["cost"].std() > 0.5 and (rollout["cost"] > 10.0).any()  # noise and slips


def test_features_match_python_loop_including_final_observation(rollout):
    done = rollout["terminated"] | rollout["truncated"]
    for n in range(done.shape[0]):
        before, after = _reference_features(rollout["cost"][n], done[n])
        np.testing.assert_allclose(rollout["obs"][n, :, -NUM_FEATURES:], before, rtol=1e-5)
        np.testing.assert_allclose(rollout["final_obs"][n, :, -NUM_FEATURES:], after, rtol=1e-5)
        # The observation after a step is the next step's "before" (or a fresh episode's).
        np.testing.assert_allclose(
            rollout["next_obs"][n, :-1, -NUM_FEATURES:], before[1:], rtol=1e-5
        )


def test_features_restart_after_termination_and_after_truncation(rollout):
    fresh = np.array([0.0, 1.0, 0.0], np.float32)
    done = rollout["terminated"] | rollout["truncated"]
    features = rollout["next_obs"][..., -NUM_FEATURES:]
    for flag in ("terminated", "truncated"):
        ended = rollout[flag]
        assert ended.any()
        np.testing.assert_array_equal(features[ended], np.broadcast_to(fresh, (ended.sum(), 3)))
    # Elsewhere time has advanced: t/T > 0, and never beyond 1 before a step.
    assert (features[~done][:, 2] > 0).all()
    assert (rollout["obs"][..., -1] < 1.0).all()
    # At the end the final observation carries t/T = 1 for truncations.
    np.testing.assert_allclose(rollout["final_obs"][rollout["truncated"]][:, -1], 1.0)


def test_inner_observation_and_transition_equal_the_bare_env(rollout):
    for name in ("obs", "next_obs", "final_obs"):
        np.testing.assert_array_equal(
            rollout[name][..., :-NUM_FEATURES], rollout[f"bare_{name}"], err_msg=name
        )
    for name in ("cost", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(rollout[name], rollout[f"bare_{name}"], err_msg=name)


def test_spaces_reset_and_helpers():
    env, wrapped, params = _make()
    assert wrapped.observation_space(params).shape == (16 + NUM_FEATURES,)
    assert wrapped.action_space(params).n == env.action_space(params).n
    assert wrapped.num_actions == env.num_actions
    obs, state = wrapped.reset(jax.random.PRNGKey(1), params)
    bare_obs, bare_state = env.reset(jax.random.PRNGKey(1), params)
    assert obs.shape == (16 + NUM_FEATURES,) and obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs, np.concatenate([bare_obs, [0.0, 1.0, 0.0]]))
    assert isinstance(state, CostAugmentedState)
    assert unwrapped(wrapped) is env and unwrapped(env) is env
    assert inner_state(state) is state.env_state and inner_state(bare_state) is bare_state
    # Default params: the wrapped env's own.
    default_obs, _ = wrapped.reset(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(default_obs, obs)
