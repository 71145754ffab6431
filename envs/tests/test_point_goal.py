"""PointGoal, its point robot, lidar and layout sampler against plain numpy, step for step."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import navigation_reference as ref
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import jaxsafe_envs
from jaxsafe_envs import lidar, point_robot
from jaxsafe_envs.point_goal import PointGoal, PointGoalState

ROBOT = {"dt": 0.02, "max_speed": 1.5, "tau_v": 0.52, "max_turn": 3.0, "tau_w": 0.0055}


def _robot_dict(state: point_robot.PointRobotState) -> dict:
    return {
        "position": np.asarray(state.position, np.float64),
        "velocity": np.asarray(state.velocity, np.float64),
        "heading": float(state.heading),
        "omega": float(state.angular_velocity),
    }


def _assert_robot_close(robot: dict, state: point_robot.PointRobotState, atol=1e-4):
    assert_allclose(state.position, robot["position"], atol=atol)
    assert_allclose(state.velocity, robot["velocity"], atol=atol)
    assert_allclose(state.angular_velocity, robot["omega"], atol=atol)
    heading_error = (float(state.heading) - robot["heading"] + math.pi) % (2 * math.pi) - math.pi
    assert abs(heading_error) < atol


# --------------------------------------------------------------------------------------------
# The robot and the lidar
# --------------------------------------------------------------------------------------------


def test_robot_matches_numpy_including_clipped_actions():
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.5, 1.5, (300, 2)).astype(np.float32)
    actions[42] = [1e30, -1e30]
    params = point_robot.make_params()

    def one(state, action):
        state = point_robot.step(state, point_robot.clip_action(action), params)
        return state, state

    start = point_robot.initial_state(jnp.array([0.3, -0.2]), jnp.float32(2.0))
    _, states = jax.jit(lambda s: jax.lax.scan(one, s, jnp.asarray(actions)))(start)
    robot = _robot_dict(start)
    for t in range(len(actions)):
        robot = ref.robot_step(robot, actions[t], **ROBOT)
        _assert_robot_close(robot, jax.tree.map(lambda leaf, t=t: leaf[t], states))
    assert np.isfinite(np.asarray(states.position)).all()


def test_robot_speed_and_turn_rate_scales():
    """Full thrust settles at max_speed (1.5 m/s) within ~1.5 s; full turn at 3 rad/s."""
    params = point_robot.make_params()
    state = point_robot.initial_state(jnp.zeros(2), jnp.float32(0.0))
    for _ in range(75):  # 1.5 s
        state = point_robot.step(state, jnp.array([1.0, 0.0]), params)
    assert 0.9 * 1.5 < float(jnp.linalg.norm(state.velocity)) <= 1.5
    state = point_robot.step(state, jnp.array([0.0, 1.0]), params)
    assert_allclose(float(state.angular_velocity), 3.0, rtol=0.05)


@pytest.mark.parametrize("falloff", ["linear", "exp"])
@pytest.mark.parametrize("alias", [True, False])
def test_lidar_matches_safety_gym_formula(falloff, alias):
    rng = np.random.default_rng(1)
    cases = [
        (rng.uniform(-2, 2, 2), rng.uniform(-np.pi, np.pi), rng.uniform(-4, 4, (5, 2)))
        for _ in range(50)
    ]
    ring = jax.jit(
        jax.vmap(
            lambda p, h, o: lidar.pseudo_lidar(
                p, h, o, 16, jnp.float32(3.0), jnp.float32(1.0), falloff, alias
            )
        )
    )
    got = ring(*(jnp.asarray(np.stack(x), jnp.float32) for x in zip(*cases, strict=True)))
    for (position, heading, objects), reading in zip(cases, np.asarray(got), strict=True):
        want = ref.lidar(position, heading, objects, falloff=falloff, alias=alias)
        assert_allclose(reading, want, atol=1e-5)


def test_lidar_bins_by_hand():
    """Robot at the origin facing +y: an object 1.5 m ahead is at bearing 0, bin 0, and reads
    (3 − 1.5)/3 = 0.5 there; with aliasing bin 15 gets (1 − 0) × 0.5 and bin 1 gets 0."""
    reading = lidar.pseudo_lidar(
        jnp.zeros(2), jnp.float32(np.pi / 2), jnp.array([[0.0, 1.5]]), 16, 3.0, 1.0
    )
    want = np.zeros(16)
    want[0] = want[15] = 0.5
    assert_allclose(reading, want, atol=1e-6)


# --------------------------------------------------------------------------------------------
# PointGoal step for step
# --------------------------------------------------------------------------------------------


def _scripted_state(env: PointGoal, params) -> PointGoalState:
    """Robot at (−1, 0) facing +x, goal at (0.2, 0), hazard 0 on the way, the rest far."""
    hazards = np.array(
        [[-0.5, 0.1], [1.3, 1.3], [1.3, -1.3], [-1.3, 1.3], [-1.3, -1.3], [0.0, 1.4], [0.0, -1.4],
         [1.4, 0.0]], np.float32)  # fmt: skip
    robot = point_robot.initial_state(jnp.array([-1.0, 0.0]), jnp.float32(0.0))
    goal = jnp.array([0.2, 0.0])
    return PointGoalState(
        robot=robot,
        goal=goal,
        hazards=jnp.asarray(hazards),
        vases=jnp.zeros((0, 2), jnp.float32),
        goal_distance=jnp.linalg.norm(robot.position - goal),
        layout_ok=jnp.bool_(True),
        time=jnp.int32(0),
    )


def test_point_goal_matches_numpy_step_for_step():
    env, params = jaxsafe_envs.make("PointGoal-v1", level=1)
    state = _scripted_state(env, params)
    rng = np.random.default_rng(2)
    actions = np.concatenate(
        [np.tile([1.0, 0.0], (70, 1)), rng.uniform(-1.3, 1.3, (200, 2))]
    ).astype(np.float32)
    step = jax.jit(env.step_env)

    robot = _robot_dict(state.robot)
    goal = np.array([0.2, 0.0])
    hazards = np.asarray(state.hazards, np.float64)
    goal_distance = np.linalg.norm(robot["position"] - goal)
    reaches = hazard_steps = 0
    for t, action in enumerate(actions):
        obs, state, reward, terminated, info = step(jax.random.key(t), state, action, params)
        robot = ref.robot_step(robot, action, **ROBOT)
        p = robot["position"]
        distance = np.linalg.norm(p - goal)
        reached = distance <= 0.3
        want_reward = (goal_distance - distance) + 1.0 * reached
        hazard_distance = np.min(np.linalg.norm(hazards - p, axis=1)) - 0.2
        if reached:  # a new goal, drawn by the environment: check it, then follow it
            reaches += 1
            goal = np.asarray(state.goal, np.float64)
            assert np.all(np.abs(goal) <= 1.5 - 0.305 + 1e-6)
            assert np.linalg.norm(goal - p) >= 0.305 + 0.4 - 1e-5
            assert np.all(np.linalg.norm(hazards - goal, axis=1) >= 0.305 + 0.18 - 1e-5)
            distance = np.linalg.norm(p - goal)
        goal_distance = distance
        hazard_steps += hazard_distance <= 0

        _assert_robot_close(robot, state.robot)
        assert bool(info["goal_reached"]) == reached
        assert_allclose(float(reward), want_reward, atol=1e-4)
        assert float(info["cost"]) == float(hazard_distance <= 0)
        assert_allclose(float(info["hazard_distance"]), hazard_distance, atol=1e-4)
        assert not bool(terminated) and not bool(info["invalid_action"])
        want_obs = np.concatenate(
            [
                ref.body_velocity(robot),
                [robot["omega"], math.sin(robot["heading"]), math.cos(robot["heading"])],
                ref.lidar(p, robot["heading"], [goal]),
                ref.lidar(p, robot["heading"], hazards),
            ]
        )
        assert_allclose(obs, want_obs, atol=2e-4)
    assert reaches >= 1 and hazard_steps >= 1  # the script exercises both


def test_point_goal_levels_spaces_and_horizon():
    sizes = {0: 21, 1: 37, 2: 53}
    for level, size in sizes.items():
        env, params = jaxsafe_envs.make("PointGoal-v1", level=level)
        assert env.observation_space(params).shape == (size,)
    env, params = jaxsafe_envs.make("PointGoal-v1", level=2)
    state = jax.eval_shape(env.reset, jax.random.key(0), params)[1]
    assert state.hazards.shape == (10, 2) and state.vases.shape == (10, 2)
    env, params = jaxsafe_envs.make("PointGoal-v1", level=0)  # the cheapest to run 1,000 steps
    _, state = env.reset(jax.random.key(0), params)

    def one(state, key):
        action = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        _, state, _, terminated, truncated, _ = env.step(key, state, action, params)
        return state, (terminated, truncated)

    _, (terminated, truncated) = jax.jit(lambda s: jax.lax.scan(one, s, jax.random.split(
        jax.random.key(1), 1001)))(state)  # fmt: skip
    assert not terminated.any()
    assert_array_equal(np.flatnonzero(truncated), [999])


def test_vases_cost_on_contact():
    env, params = jaxsafe_envs.make("PointGoal-v1", level=2)
    _, state = env.reset(jax.random.key(3), params)
    vase = state.vases[0]
    robot = point_robot.initial_state(vase + jnp.array([0.15, 0.0]), jnp.float32(0.0))
    state = state.replace(robot=robot, hazards=state.hazards + 100.0)
    _, _, _, _, info = jax.jit(env.step_env)(jax.random.key(0), state, jnp.zeros(2), params)
    assert float(info["cost"]) == 1.0 and float(info["hazard_distance"]) > 50.0


# --------------------------------------------------------------------------------------------
# The layout sampler
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2])
def test_no_overlap_over_10000_resets(level):
    env, params = jaxsafe_envs.make("PointGoal-v1", level=level)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    _, state = reset(jax.random.split(jax.random.key(level), 10_000), params)
    positions = np.concatenate(
        [
            np.asarray(state.robot.position)[:, None],
            np.asarray(state.goal)[:, None],
            np.asarray(state.hazards),
            np.asarray(state.vases),
        ],
        axis=1,
    )  # [R, M, 2]
    keepouts = np.asarray(env._keepouts(params))
    distance = np.linalg.norm(positions[:, :, None] - positions[:, None, :], axis=-1)
    needed = keepouts[:, None] + keepouts[None, :]
    off_diagonal = ~np.eye(len(keepouts), dtype=bool)
    assert (distance[:, off_diagonal] >= needed[off_diagonal] - 1e-5).all()
    extent = float(params.extents[2])
    assert (np.abs(positions) <= extent - keepouts[None, :, None] + 1e-6).all()
    assert np.asarray(state.layout_ok).all()


def test_fixed_layout_is_the_same_every_reset():
    env, params = jaxsafe_envs.make("PointGoal-v1", level=2, layout="fixed", layout_seed=7)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    _, state = reset(jax.random.split(jax.random.key(0), 100), params)
    for leaf in (state.robot.position, state.goal, state.hazards, state.vases):
        assert_array_equal(np.asarray(leaf), np.broadcast_to(np.asarray(leaf)[0], leaf.shape))
    assert np.unique(np.asarray(state.robot.heading)).size == 100  # only the heading varies
    other, _ = jaxsafe_envs.make("PointGoal-v1", level=2, layout="fixed", layout_seed=8)
    _, other_state = reset(jax.random.split(jax.random.key(0), 100), other.default_params)
    assert not np.array_equal(np.asarray(other_state.hazards), np.asarray(state.hazards))


def _positions(state) -> np.ndarray:
    """[R, M, 2] robot, goal, hazards and vases of a batch of states."""
    return np.concatenate(
        [
            np.asarray(state.robot.position)[:, None],
            np.asarray(state.goal)[:, None],
            np.asarray(state.hazards),
            np.asarray(state.vases),
        ],
        axis=1,
    )


@pytest.mark.parametrize("level", [1, 2])
def test_auto_resets_are_uniform_draws_from_a_pool_of_sampled_layouts(level):
    """The auto-reset restarts from pool layout ``reset_index`` of the step's reset key with a
    fresh heading; the pool's layouts are the sampler's (no overlap, all different)."""
    env, params = jaxsafe_envs.make(
        "PointGoal-v1", level=level, episode_length=2, reset_pool_size=256
    )
    pool, pool_ok = env.reset_pool
    assert pool.shape == (256, 2 + env.hazards_num + env.vases_num, 2)
    assert np.asarray(pool_ok).all()
    keepouts = np.asarray(env._keepouts(params))
    pool = np.asarray(pool)
    distance = np.linalg.norm(pool[:, :, None] - pool[:, None, :], axis=-1)
    off_diagonal = ~np.eye(len(keepouts), dtype=bool)
    needed = (keepouts[:, None] + keepouts[None, :])[off_diagonal]
    assert (distance[:, off_diagonal] >= needed - 1e-5).all()
    assert np.unique(pool[:, 2, 0]).size == 256  # different layouts

    num = 4096
    _, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(0), num), params
    )
    keys = jax.random.split(jax.random.key(1), (2, num))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, None, None)))
    _, state, _, _, truncated, _ = step(keys[0], state, jnp.zeros(2), params)
    assert not np.asarray(truncated).any()
    obs, state, _, _, truncated, info = step(keys[1], state, jnp.zeros(2), params)
    assert np.asarray(truncated).all()
    reset_keys = jax.vmap(lambda key: jax.random.split(key)[1])(keys[1])
    index = np.asarray(env.reset_index(reset_keys))
    assert_array_equal(_positions(state), pool[index])
    assert_array_equal(np.asarray(state.time), 0)
    assert_allclose(state.robot.heading, env.reset_heading(reset_keys))
    # uniform over the pool's layouts and over headings
    counts = np.bincount(index, minlength=256)
    assert counts.min() > 0 and counts.max() < 3 * num / 256
    heading = np.asarray(state.robot.heading)
    assert (np.abs(heading) <= np.pi).all()
    assert_allclose(np.histogram(heading, 8, (-np.pi, np.pi))[0] / num, 1 / 8, atol=0.03)
    # the observation is the new episode's
    want, _ = env._start(jnp.asarray(pool[index[0]]), True, state.robot.heading[0], params)
    assert_allclose(obs[0], want, atol=1e-6)
    assert not np.allclose(obs[0], info["final_observation"][0])


def test_exact_resets_without_pool_match_gymnax_step():
    from gymnax.environments import environment

    env, params = jaxsafe_envs.make("PointGoal-v1", episode_length=1, reset_pool_size=0)
    _, state = env.reset(jax.random.key(0), params)
    key = jax.random.key(5)
    ours = env.step(key, state, jnp.array([0.3, -0.2]), params)
    gymnax = environment.Environment.step(env, key, state, jnp.array([0.3, -0.2]), params)
    assert bool(ours[4])
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(gymnax), strict=True):
        assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="reset_pool_size"):
        jaxsafe_envs.make("PointGoal-v1", reset_pool_size=-1)


# --------------------------------------------------------------------------------------------
# Invalid actions, options, drawing interface
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PointGoal-v1", "PointTrap-v1"])
def test_non_finite_and_huge_actions_keep_everything_finite(name):
    env, params = jaxsafe_envs.make(name)
    bad = jnp.array(
        [[jnp.nan, 0.0], [jnp.inf, -jnp.inf], [-jnp.inf, jnp.nan], [1e38, -1e38], [0.5, 0.5]]
    )
    actions = jnp.tile(bad, (20, 1))

    def one(state, inputs):
        key, action = inputs
        obs, state, reward, _, _, info = env.step(key, state, action, params)
        return state, (obs, reward, info["cost"], info["invalid_action"], state)

    _, state = env.reset(jax.random.key(0), params)
    keys = jax.random.split(jax.random.key(1), len(actions))
    _, (obs, reward, cost, invalid, states) = jax.jit(
        lambda s: jax.lax.scan(one, s, (keys, actions))
    )(state)
    for leaf in (obs, reward, cost, *jax.tree.leaves(states.robot)):
        assert np.isfinite(np.asarray(leaf)).all()
    assert_array_equal(np.asarray(invalid), np.tile([True, True, True, False, False], 20))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="level"):
        jaxsafe_envs.make("PointGoal-v1", level=3)
    with pytest.raises(ValueError, match="layout"):
        jaxsafe_envs.make("PointGoal-v1", layout="grid")
    with pytest.raises(ValueError, match="unknown keyword"):
        jaxsafe_envs.make("PointGoal-v1", hazard_number=3)


def test_layout_interface():
    env, params = jaxsafe_envs.make("PointGoal-v1", level=2)
    _, state = env.reset(jax.random.key(0), params)
    layout = env.layout(state, params)
    assert layout.hazards.shape == (20, 3) and layout.traps.shape == (0, 3)
    assert layout.walls.shape == (0, 4) and layout.extent.shape == (4,)
    assert_allclose(layout.hazards[:10, :2], state.hazards)
    assert_allclose(layout.goal, state.goal)
    assert_allclose(env.position(state), state.robot.position)
