"""PointHazards-v1 against a plain numpy implementation of its module docstring's equations.

The numpy reference shares no code with the environment: it takes the scripted actions and the
disturbance draws, and recomputes positions, observations, rewards, costs, the ``violated`` latch
and the auto-reset. The draws are the environment's documented ones, d_k = σ · N(0, I) from the
step half of each step key (gymnax's ``step`` splits its key into a step and a reset half). The
disturbance law itself is checked separately from positions alone.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

import jaxsafe_envs
from jaxsafe_envs import PointHazardsState
from jaxsafe_envs.gymnasium_adapter import GymnasiumCMDP

HAZARDS = np.array([[7.5, 10.0, 2.5], [10.0, 5.0, 2.5]])
GOAL = np.array([15.0, 15.0])


def _reference(actions, disturbances, dt, noise_std, horizon, limit=1.0, offset=0.1):
    """Plain numpy PointHazards along ``actions`` [T, 2] with standard normal draws [T, 2]."""
    position, violated, time = np.zeros(2), False, 0
    keys = ("obs", "final", "reward", "cost", "violated", "invalid", "terminated", "truncated")
    out = {k: [] for k in keys}

    def observation(position, violated, time):
        edges = np.hypot(*(position - HAZARDS[:, :2]).T) - HAZARDS[:, 2]
        return np.concatenate([position, GOAL - position, edges, [violated, time / horizon]])

    for action, normal in zip(actions, disturbances, strict=True):
        invalid = not np.all(np.isfinite(action))
        action = np.zeros(2) if invalid else np.clip(action, -limit, limit)
        position = position + dt * (action + noise_std * normal)
        inside = bool(np.any(np.hypot(*(position - HAZARDS[:, :2]).T) <= HAZARDS[:, 2]))
        violated, time = violated or inside, time + 1
        final = observation(position, violated, time)
        truncated = time >= horizon
        if truncated or invalid:  # an invalid action terminates the episode
            position, violated, time = np.zeros(2), False, 0
        out["obs"].append(observation(position, violated, time))
        out["final"].append(final)
        out["reward"].append(1.0 / (np.sum((final[:2] - GOAL) ** 2) + offset))
        out["cost"].append(1.0 if invalid else float(inside))
        out["violated"].append(bool(final[-2]))
        out["invalid"].append(invalid)
        out["terminated"].append(invalid)
        out["truncated"].append(truncated)
    return {k: np.array(v) for k, v in out.items()}


@functools.partial(jax.jit, static_argnums=0)
def _scripted(env, params, key, actions):
    """Reset, then ``env.step`` along ``actions`` [T, 2]; the per-step outputs and draws."""
    key_reset, key_steps = jax.random.split(key)
    obs0, state = env.reset(key_reset, params)
    keys = jax.random.split(key_steps, actions.shape[0])

    def body(state, xs):
        key, action = xs
        obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
        normal = jax.random.normal(jax.random.split(key)[0], (2,))
        return state, (obs, reward, terminated, truncated, info, normal)

    _, out = jax.lax.scan(body, state, (keys, actions))
    return obs0, out


def _script() -> np.ndarray:
    """36 actions at dt = 0.5, T = 30: straight at the goal (into D₁ from about step 15 and out
    at step 20, the latch staying on), out-of-box actions on the way, and six steps of a second
    episode after the truncation, three of them invalid (each ends its episode)."""
    actions = np.ones((36, 2))
    actions[6] = [1e30, 1e30]
    actions[8] = [3.0, 0.5]
    actions[31] = [-2.0, 0.25]
    actions[32] = [np.nan, 1.0]
    actions[34] = [np.inf, -np.inf]
    actions[35] = [-np.inf, np.nan]
    return actions


def test_steps_match_a_numpy_reference_over_a_scripted_episode():
    env, params = jaxsafe_envs.make("PointHazards-v1", dt=0.5, max_steps_in_episode=30)
    actions = _script()
    obs0, (obs, reward, terminated, truncated, info, normal) = jax.device_get(
        _scripted(env, params, jax.random.key(7), jnp.asarray(actions, jnp.float32))
    )
    ref = _reference(actions, np.asarray(normal, np.float64), dt=0.5, noise_std=0.6, horizon=30)

    assert_allclose(
        obs0, [0, 0, 15, 15, np.hypot(7.5, 10) - 2.5, np.hypot(10, 5) - 2.5, 0, 0], rtol=1e-6
    )
    assert_allclose(obs, ref["obs"], rtol=1e-5, atol=1e-5)
    assert_allclose(info["final_observation"], ref["final"], rtol=1e-5, atol=1e-5)
    assert_allclose(reward, ref["reward"], rtol=1e-4)
    assert_array_equal(info["cost"], ref["cost"])
    assert_array_equal(info["violated"], ref["violated"])
    assert_array_equal(info["invalid_action"], ref["invalid"])
    assert_array_equal(terminated, ref["terminated"])
    assert_array_equal(truncated, ref["truncated"])
    goal_distance = np.hypot(*(ref["final"][:, :2] - GOAL).T)
    assert_allclose(info["goal_distance"], goal_distance, rtol=1e-5)
    # The script does what its docstring says: an entry, an exit with the latch on, a reset.
    cost = ref["cost"][:30]
    assert cost.any() and not cost[-1] and ref["violated"][29]
    assert np.flatnonzero(ref["truncated"]).tolist() == [29]
    assert np.flatnonzero(ref["terminated"]).tolist() == [32, 34, 35]
    assert not ref["violated"][30:].any()


def test_invalid_actions_become_zero_and_huge_ones_are_clipped():
    env, params = jaxsafe_envs.make("PointHazards-v1")
    _, state = env.reset(jax.random.key(0), params)
    step = jax.jit(jax.vmap(env.step, in_axes=(None, None, 0, None)))
    actions = jnp.array(
        [[0, 0], [jnp.nan, 0], [0, jnp.inf], [-jnp.inf, jnp.nan], [1, 1], [1e30, 5], [-1, -1]],
        jnp.float32,
    )
    obs, _, reward, terminated, _, info = step(jax.random.key(1), state, actions, params)
    assert np.isfinite(obs).all() and np.isfinite(reward).all()
    invalid = [False, True, True, True, False, False, False]
    assert info["invalid_action"].tolist() == terminated.tolist() == invalid
    assert_array_equal(info["cost"][1:4], 1.0)
    position = np.asarray(info["final_observation"][:, :2])
    assert_array_equal(position[1:4], np.broadcast_to(position[0], (3, 2)))
    assert_array_equal(position[5], position[4])
    assert_allclose(position[4] - position[0], [0.25, 0.25], rtol=1e-5)
    assert_allclose(position[6] - position[0], [-0.25, -0.25], rtol=1e-5)


def test_disturbance_is_gaussian_with_std_0_6_per_axis():
    """Under zero actions d_k = (s_{k+1} − s_k) / dt: 4096 envs × 8 steps of draws, each axis
    N(0, 0.6²) by Kolmogorov–Smirnov, axes and successive steps uncorrelated."""
    env, params = jaxsafe_envs.make("PointHazards-v1")
    num_envs, num_steps = 4096, 8

    @jax.jit
    def positions(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)
        zeros = jnp.zeros((num_envs, 2))

        def body(state, key):
            _, state, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key, num_envs), state, zeros, params
            )
            return state, state.position

        _, out = jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return jnp.concatenate([jnp.zeros((1, num_envs, 2)), out])

    path = np.asarray(positions(jax.random.key(3)), np.float64)
    d = np.diff(path, axis=0) / 0.25  # [T, N, 2]
    for axis in range(2):
        sample = d[..., axis].ravel()
        assert stats.kstest(sample, stats.norm(0.0, 0.6).cdf).pvalue > 1e-3
        # Mean and variance separately: |mean| within 4 standard errors, variance by χ².
        assert abs(sample.mean()) < 4 * 0.6 / np.sqrt(sample.size)
        chi2 = np.sum(sample**2) / 0.36
        assert 1e-3 < stats.chi2(sample.size).sf(chi2) < 1 - 1e-3
    n = d[..., 0].size
    for a, b in [(d[..., 0], d[..., 1]), (d[1:, :, 0], d[:-1, :, 0])]:
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 4 / np.sqrt(n)


def _follow(env, params, waypoints, num_envs, key):
    """P(violated), mean return and mean first step within 0.5 of the goal of a path follower:
    it tracks the polyline start → ``waypoints`` → goal at speed 1.4 with a lookahead of one
    step (actions clipped to the box)."""
    points = jnp.concatenate([params.start[None], jnp.asarray(waypoints), params.goal[None]])
    horizon = int(params.max_steps_in_episode)

    def policy(position, segment):
        p, q = points[segment], points[segment + 1]
        length = jnp.linalg.norm(q - p)
        direction = (q - p) / length
        ahead = jnp.dot(position - p, direction) + params.dt * 1.4
        target = jnp.where(ahead >= length, q, p + ahead * direction)
        return (target - position) / params.dt

    def episode(key):
        _, state = env.reset(key, params)

        def body(carry, key):
            state, segment, ret, arrived = carry
            action = policy(state.position, segment)
            _, state, reward, _, _, info = env.step(key, state, action, params)
            p, q = points[segment], points[segment + 1]
            past = jnp.dot(state.position - p, q - p) >= jnp.sum((q - p) ** 2)
            segment = jnp.where(past & (segment < len(points) - 2), segment + 1, segment)
            step = state.time.astype(jnp.float32)
            arrived = jnp.where((info["goal_distance"] < 0.5) & (arrived < 0), step, arrived)
            return (state, segment, ret + reward, arrived), info["violated"]

        carry = (state, jnp.int32(0), jnp.float32(0.0), jnp.float32(-1.0))
        (_, _, ret, arrived), violated = jax.lax.scan(
            body, carry, jax.random.split(key, horizon - 1)
        )
        return violated[-1], ret, arrived

    violated, ret, arrived = jax.jit(jax.vmap(episode))(jax.random.split(key, num_envs))
    return float(violated.mean()), float(ret.mean()), float(arrived.mean())


def test_default_geometry_makes_the_gap_a_gamble():
    """The defaults' design claim (module docstring): threading the gap between the discs pays
    more but enters a disc in about a fifth of the episodes; the detour north of D₁ is safe."""
    env, params = jaxsafe_envs.make("PointHazards-v1")
    key = jax.random.key(11)
    gap = _follow(env, params, [[4.75, 5.5], [11.75, 9.0]], 2000, key)
    north = _follow(env, params, [[3.5, 11.0], [6.0, 13.5], [8.5, 13.5]], 2000, key)
    assert 0.1 < gap[0] < 0.35 and north[0] < 0.01
    assert gap[1] > 1.3 * north[1]
    assert gap[2] < north[2] < 110  # both arrive, with time to spare before T = 120


def test_layout_and_position_for_drawing():
    env, params = jaxsafe_envs.make("PointHazards-v1")
    _, state = env.reset(jax.random.key(0), params)
    layout = jax.jit(env.layout)(state, params)
    assert_array_equal(layout.hazards, HAZARDS)
    assert_array_equal(layout.goal, GOAL)
    assert layout.traps.shape == (0, 3) and layout.walls.shape == (0, 4)
    assert_allclose(layout.extent, [-2.0, -2.0, 17.0, 17.0])
    _, states = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(1), 3), params
    )
    assert jax.vmap(env.position)(states).shape == (3, 2)
    assert isinstance(state, PointHazardsState)


@pytest.mark.parametrize("kwargs", [{"dt": 0.0}, {"noise_std": -1.0}, {"hazards": [[1, 1, 0]]}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError, match="PointHazards"):
        jaxsafe_envs.make("PointHazards-v1", **kwargs)


def test_options_reach_the_observation_and_the_action_space():
    env, params = jaxsafe_envs.make(
        "PointHazards-v1", hazards=[[5, 5, 1], [1, 9, 2], [9, 1, 2]], action_limit=0.5
    )
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs.shape == env.observation_space(params).shape == (9,)
    space = env.action_space(params)
    assert_array_equal(space.low, -0.5) and assert_array_equal(space.high, 0.5)


def test_gymnasium_adapter_runs_it():
    env = GymnasiumCMDP("PointHazards-v1", num_envs=3, seed=1, max_steps_in_episode=4)
    obs, _ = env.reset()
    assert obs.shape == (3, 8) and env.single_observation_space.shape == (8,)
    assert env.single_action_space.contains(np.array([1.0, -1.0], np.float32))
    for _ in range(4):
        obs, reward, cost, terminated, truncated, info = env.step(np.ones((3, 2), np.float32))
        assert reward.shape == cost.shape == (3,) and not terminated.any()
    assert truncated.all() and info["violated"].shape == (3,)
    assert_array_equal(obs[:, :2], 0.0)
