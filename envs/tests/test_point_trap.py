"""PointTrap against plain numpy, step for step: robot, walls, traps, health, death, success."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import navigation_reference as ref
import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

import jaxsafe_envs
from jaxsafe_envs import point_robot
from jaxsafe_envs.point_trap import GOAL, TRAPS, WALLS, PointTrapState

ROBOT = {"dt": 0.05, "max_speed": 1.5, "tau_v": 0.52, "max_turn": 3.0, "tau_w": 0.0055}


def _state(position, heading, params, health=12) -> PointTrapState:
    robot = point_robot.initial_state(jnp.asarray(position, jnp.float32), jnp.float32(heading))
    return PointTrapState(
        robot=robot,
        health=jnp.int32(health),
        goal_distance=jnp.linalg.norm(robot.position - params.goal),
        time=jnp.int32(0),
    )


def _reference_run(env, params, state, actions, extra_probability):
    """Steps ``env.step_env`` and the numpy reference side by side; returns the per-step
    outcomes of the reference after checking every step's outputs against it."""
    step = jax.jit(env.step_env)
    robot = {
        "position": np.asarray(state.robot.position, np.float64),
        "velocity": np.zeros(2),
        "heading": float(state.robot.heading),
        "omega": 0.0,
    }
    health = int(state.health)
    goal = np.asarray(GOAL, np.float64)
    goal_distance = np.linalg.norm(robot["position"] - goal)
    traps = np.asarray(TRAPS, np.float64)
    outcomes = []
    for t, action in enumerate(actions):
        key = jax.random.key(t)
        obs, state, reward, terminated, info = step(key, state, action, params)
        start = robot["position"]
        robot = ref.collide(start, ref.robot_step(robot, action, **ROBOT), WALLS, 0.1)
        p = robot["position"]
        in_trap = any(np.linalg.norm(p - trap[:2]) <= trap[2] for trap in traps)
        extra = float(jax.random.uniform(key)) < extra_probability  # the env's own draw
        health -= in_trap * (1 + extra)
        died = health <= 0
        distance = np.linalg.norm(p - goal)
        success = distance <= 0.3 and not died
        want_reward = goal_distance - distance + 10.0 * success
        goal_distance = distance

        assert_allclose(state.robot.position, p, atol=1e-4)
        assert_allclose(state.robot.velocity, robot["velocity"], atol=1e-4)
        assert int(state.health) == health
        assert bool(info["in_trap"]) == in_trap
        assert bool(info["died"]) == died and bool(info["success"]) == success
        assert bool(terminated) == (died or success)
        assert float(info["cost"]) == float(died)
        assert_allclose(float(reward), want_reward, atol=1e-4)
        heading = robot["heading"]
        want_obs = np.concatenate(
            [
                p,
                robot["velocity"],
                [robot["omega"], math.sin(heading), math.cos(heading), max(health, 0) / 12],
                ref.lidar(p, heading, ref.nearest_points(p, WALLS)),
                ref.lidar(p, heading, traps[:, :2]),
            ]
        )
        assert_allclose(obs, want_obs, atol=2e-4)
        outcomes.append({"in_trap": in_trap, "died": died, "success": success, "health": health})
        if died or success:
            break
    return outcomes


def test_walls_stop_and_slide_the_robot_as_numpy():
    """Down-right into the bottom wall, along it, then up into the divider and along it."""
    env, params = jaxsafe_envs.make("PointTrap-v1")
    state = _state([-2.5, -1.3], -2.3, params)
    actions = np.concatenate(
        [np.tile([1.0, 0.0], (40, 1)), np.tile([1.0, -0.6], (30, 1)), np.tile([1.0, 0.4], (60, 1))]
    ).astype(np.float32)
    outcomes = _reference_run(env, params, state, actions, 0.1)
    assert len(outcomes) == len(actions)  # no trap reached, nothing ended


def test_traps_drain_health_until_death_as_numpy():
    env, params = jaxsafe_envs.make("PointTrap-v1")
    state = _state([-0.7, -1.3], 0.0, params)
    actions = np.concatenate([np.tile([1.0, 0.0], (12, 1)), np.tile([0.0, 0.0], (40, 1))])
    outcomes = _reference_run(env, params, state, actions.astype(np.float32), 0.1)
    assert outcomes[-1]["died"] and sum(o["in_trap"] for o in outcomes) >= 6


def test_random_actions_in_and_out_of_traps_as_numpy():
    env, params = jaxsafe_envs.make("PointTrap-v1", trap_extra_damage_probability=0.5)
    rng = np.random.default_rng(0)
    state = _state([-0.5, -1.3], 0.0, params)
    actions = rng.uniform(-1.2, 1.2, (150, 2)).astype(np.float32)
    _reference_run(env, params, state, actions, 0.5)


def test_success_ends_the_episode_with_the_bonus():
    env, params = jaxsafe_envs.make("PointTrap-v1")
    state = _state([1.8, -1.3], 0.0, params)
    outcomes = _reference_run(env, params, state, np.tile([1.0, 0.0], (60, 1)), 0.1)
    assert outcomes[-1]["success"] and not outcomes[-1]["died"]


def test_death_is_the_only_cost_and_auto_resets():
    env, params = jaxsafe_envs.make("PointTrap-v1", health=3)
    state = _state([0.0, -1.3], 0.0, params, health=3)
    costs, ends = [], []
    for t in range(5):
        obs, state, reward, terminated, truncated, info = env.step(
            jax.random.key(t), state, jnp.zeros(2), params
        )
        costs.append(float(info["cost"]))
        ends.append(bool(terminated))
        if terminated:
            assert bool(info["died"]) and not bool(info["success"])
            assert float(info["final_observation"][7]) == 0.0  # health fraction at death
            assert float(obs[7]) == 1.0 and int(state.health) == 3  # the new episode
            break
    assert costs[-1] == 1.0 and sum(costs) == 1.0 and ends[-1]


def test_the_robot_never_enters_a_wall():
    env, params = jaxsafe_envs.make("PointTrap-v1", health=1000, episode_length=10_000)
    walls = np.asarray(WALLS)

    def one(state, key):
        key_action, key_step = jax.random.split(key)
        action = jax.random.uniform(key_action, (2,), minval=-1.0, maxval=1.0)
        action = action.at[0].set(1.0)  # always pushing
        _, state, _, _, _ = env.step_env(key_step, state, action, params)
        return state, state.robot.position

    def run(key):
        _, state = env.reset(key, params)
        return jax.lax.scan(one, state, jax.random.split(key, 400))[1]

    positions = np.asarray(jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 64)))
    inside = (
        (positions[..., None, 0] > walls[:, 0] - 0.1)
        & (positions[..., None, 0] < walls[:, 2] + 0.1)
        & (positions[..., None, 1] > walls[:, 1] - 0.1)
        & (positions[..., None, 1] < walls[:, 3] + 0.1)
    )
    assert not inside.any()
    assert (positions[..., 0] > -2.0).any()  # the robots did travel


def test_thin_walls_are_refused():
    import pytest

    with pytest.raises(ValueError, match="thicker"):
        jaxsafe_envs.make("PointTrap-v1", walls=((0.0, 0.0, 0.01, 1.0),), robot_radius=0.0)


def test_layout_interface():
    env, params = jaxsafe_envs.make("PointTrap-v1")
    _, state = env.reset(jax.random.key(0), params)
    layout = env.layout(state, params)
    assert_array_equal(layout.walls, np.asarray(WALLS, np.float32))
    assert_array_equal(layout.traps, np.asarray(TRAPS, np.float32))
    assert layout.hazards.shape == (0, 3)
    assert_allclose(layout.goal, GOAL)
    assert_allclose(env.position(state), state.robot.position)


def test_gymnasium_adapter_steps_both_navigation_tasks():
    from jaxsafe_envs.gymnasium_adapter import GymnasiumCMDP

    for name in ("PointGoal-v1", "PointTrap-v1"):
        env = GymnasiumCMDP(name, num_envs=3, seed=0, episode_length=2)
        obs, _ = env.reset()
        assert obs.shape == (3, *env.single_observation_space.shape)
        assert env.single_action_space.shape == (2,)
        for step in range(2):
            obs, reward, cost, terminated, truncated, info = env.step(np.zeros((3, 2)))
            assert reward.shape == cost.shape == (3,) and not terminated.any()
            assert truncated.all() == (step == 1)
        assert info["final_observation"].shape == obs.shape
