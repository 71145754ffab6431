"""The gymnax 1.0 CMDP contract, checked for every registered environment.

Each environment is rolled out once per module under ``jit(scan(vmap(step)))`` over 1024
environments with random actions and a short horizon, so that auto-resets happen; the tests
then read that rollout.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsafe_envs

NUM_ENVS = 1024
NUM_STEPS = 12
HORIZON = 5
SHORT_HORIZON = {
    "IcyLake-v1": {"max_steps_in_episode": HORIZON},
    "PointCircle-v1": {"episode_length": HORIZON},
    "EcoAnt-v1": {"episode_length": HORIZON},
    "EcoAnt-v2": {"episode_length": HORIZON},
    "AntCircle-v1": {"episode_length": HORIZON},
    "PointHazards-v1": {"max_steps_in_episode": HORIZON},
    "PointGoal-v1": {"episode_length": HORIZON},
    "PointTrap-v1": {"episode_length": HORIZON},
}


def test_every_registered_env_is_covered():
    assert sorted(SHORT_HORIZON) == jaxsafe_envs.registered()


def _rollout_keys(key):
    """The keys of a rollout: the reset keys [N], and per step the action keys [T, N] and the
    keys [T, N] that ``step`` is called with."""
    key_reset, key_steps = jax.random.split(key)

    def per_step(key):
        key_action, key_step = jax.random.split(key)
        return jax.random.split(key_action, NUM_ENVS), jax.random.split(key_step, NUM_ENVS)

    actions, steps = jax.vmap(per_step)(jax.random.split(key_steps, NUM_STEPS))
    return jax.random.split(key_reset, NUM_ENVS), actions, steps


def _rollout(env, params, key):
    """obs0 [N, ...] and the stacked step outputs [T, N, ...] of a random-action rollout.

    Every environment gets its own copy of ``params`` (vmapped, not closed over), which checks
    that the constants are a traced pytree.
    """
    reset_keys, action_keys, step_keys = _rollout_keys(key)
    params = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (NUM_ENVS, *leaf.shape)), params)
    obs, state = jax.vmap(env.reset)(reset_keys, params)

    def one_step(state, keys):
        key_action, key_step = keys
        action = jax.vmap(env.action_space(None).sample)(key_action)
        step = jax.vmap(env.step)
        obs, state, reward, terminated, truncated, info = step(key_step, state, action, params)
        return state, (obs, reward, terminated, truncated, info)

    _, transitions = jax.lax.scan(one_step, state, (action_keys, step_keys))
    return obs, transitions


@functools.cache
def _compiled(name):
    env, params = jaxsafe_envs.make(name, **SHORT_HORIZON[name])
    return env, params, jax.jit(functools.partial(_rollout, env))


@functools.cache
def _result(name, seed=0):
    env, params, run = _compiled(name)
    return jax.device_get(run(params, jax.random.key(seed)))


names = pytest.mark.parametrize("name", jaxsafe_envs.registered())


@names
def test_shapes_and_dtypes(name):
    env, params, _ = _compiled(name)
    obs0, (obs, reward, terminated, truncated, info) = _result(name)
    obs_shape = env.observation_space(params).shape
    assert obs0.shape == (NUM_ENVS, *obs_shape) and obs0.dtype == np.float32
    assert obs.shape == (NUM_STEPS, NUM_ENVS, *obs_shape) and obs.dtype == np.float32
    assert info["final_observation"].shape == obs.shape
    for flag in (terminated, truncated):
        assert flag.shape == (NUM_STEPS, NUM_ENVS) and flag.dtype == np.bool_
    for value in (reward, info["cost"]):
        assert value.shape == (NUM_STEPS, NUM_ENVS) and value.dtype == np.float32


@names
def test_values_are_finite_and_cost_is_non_negative(name):
    obs0, (obs, reward, _, _, info) = _result(name)
    for array in (obs0, obs, reward, info["cost"], info["final_observation"]):
        assert np.isfinite(array).all()
    assert (info["cost"] >= 0.0).all()


@names
def test_truncation_is_not_termination(name):
    _, (_, _, terminated, truncated, info) = _result(name)
    assert truncated.any(), "the short horizon must truncate some episodes"
    # gymnax 1.0 reports both flags separately and never folds one into the other.
    np.testing.assert_array_equal(info["terminated"], terminated)
    np.testing.assert_array_equal(info["truncated"], truncated)
    if name.startswith(("IcyLake", "PointCircle", "PointGoal", "PointTrap", "PointHazards")):
        # No episode can reach a terminal state by time 5 here: IcyLake's goal is six moves
        # away, PointCircle, PointGoal and PointHazards never terminate, PointTrap's traps and
        # goal are metres away; so every episode end here is a pure truncation.
        assert not terminated.any()
        assert truncated[HORIZON - 1].all()


@names
def test_auto_reset_keeps_the_final_observation(name):
    obs0, (obs, _, terminated, truncated, info) = _result(name)
    done = terminated | truncated
    final = info["final_observation"]
    # Where the episode goes on, the returned observation is the final observation.
    np.testing.assert_array_equal(obs[~done], final[~done])
    # Where it ended, the returned observation starts the next episode instead.
    assert done.any()
    if name.startswith("IcyLake"):
        # Every IcyLake episode restarts on the start tile, where the last one may have ended.
        np.testing.assert_array_equal(obs[done], np.broadcast_to(obs0[0], obs[done].shape))
    else:
        changed = np.any(np.reshape(obs[done] != final[done], (done.sum(), -1)), axis=1)
        assert changed.all()


@names
def test_same_key_same_rollout_and_other_key_other_rollout(name):
    _, params, run = _compiled(name)
    first = _result(name)
    again = jax.device_get(run(params, jax.random.key(0)))
    other = jax.device_get(run(params, jax.random.key(1)))
    jax.tree.map(np.testing.assert_array_equal, first, again)
    assert not np.array_equal(first[1][0], other[1][0])


@names
def test_spaces_contain_what_the_env_produces(name):
    env, params, _ = _compiled(name)
    obs0, (obs, *_) = _result(name)
    observation_space = env.observation_space(params)
    assert observation_space.contains(jnp.asarray(obs0[0]))
    assert observation_space.contains(jnp.asarray(obs[-1, 0]))
    action_space = env.action_space(params)
    assert action_space.contains(action_space.sample(jax.random.key(3)))


@pytest.mark.parametrize("name", ["AntCircle-v1", "EcoAnt-v1", "EcoAnt-v2"])
def test_brax_auto_resets_are_uniform_draws_from_the_reset_pool(name):
    """The brax tasks restart from their reset pool (the default): every restart is a pool
    state, the pool is used about as evenly as uniform draws use it, and no environment replays
    its first state or, but for 1/P chance, the start of its previous episode."""
    env, params, _ = _compiled(name)
    obs0, (obs, _, terminated, truncated, _) = _result(name)
    pool_obs, _ = jax.vmap(env.start_episode, in_axes=(0, None))(env.reset_pool, params)
    pool_index = {row.tobytes(): i for i, row in enumerate(np.asarray(pool_obs))}
    done = terminated | truncated
    starts = [
        [pool_index[obs[t, n].tobytes()] for t in np.flatnonzero(done[:, n])]
        for n in range(NUM_ENVS)
    ]
    draws = sum(len(s) for s in starts)
    assert draws >= NUM_ENVS  # every episode is truncated at step HORIZON
    # n uniform draws from P states hit P (1 − (1 − 1/P)^n) distinct ones on average.
    size = env.reset_pool_size
    expected_distinct = size * (1.0 - (1.0 - 1.0 / size) ** draws)
    distinct = len({i for s in starts for i in s})
    assert 0.95 * expected_distinct <= distinct <= size
    repeats = sum(a == b for s in starts for a, b in zip(s[:-1], s[1:], strict=True))
    assert repeats <= 10  # about draws / P expected
    for n in range(NUM_ENVS):
        assert not np.any(np.all(obs[done[:, n], n] == obs0[n], axis=-1))
    # Each restart is pool[reset_index(k)], k the reset half of that step's key.
    _, _, step_keys = _rollout_keys(jax.random.key(0))
    reset_keys = jax.vmap(jax.vmap(lambda key: jax.random.split(key)[1]))(step_keys)
    index = np.asarray(jax.vmap(jax.vmap(env.reset_index))(reset_keys))
    t, n = np.nonzero(done)
    restarts = [pool_index[obs[i, j].tobytes()] for i, j in zip(t, n, strict=True)]
    np.testing.assert_array_equal(restarts, index[t, n])
