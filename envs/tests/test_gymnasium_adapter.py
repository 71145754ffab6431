"""The host-side, Safety-Gymnasium-style adapter."""

import gymnasium
import numpy as np
import pytest

from jaxsafe_envs.gymnasium_adapter import GymnasiumCMDP


def test_icy_lake_through_numpy():
    env = GymnasiumCMDP("IcyLake-v1", num_envs=4, seed=0, max_steps_in_episode=3)
    assert env.single_observation_space == gymnasium.spaces.Box(0.0, 1.0, (16,), np.float32)
    assert env.single_action_space == gymnasium.spaces.Discrete(4)
    obs, info = env.reset()
    assert isinstance(obs, np.ndarray) and obs.shape == (4, 16) and info == {}
    np.testing.assert_array_equal(obs.argmax(axis=1), 0)

    # Moving right three times from the start: F, F, F (snow) then the horizon truncates.
    for step in range(3):
        obs, reward, cost, terminated, truncated, info = env.step(np.full(4, 2))
        for array in (obs, reward, cost, terminated, truncated):
            assert isinstance(array, np.ndarray) and array.shape[0] == 4
        np.testing.assert_array_equal(cost, 2.0)
        np.testing.assert_array_equal(cost, info["cost"])
        assert not terminated.any()
        assert truncated.all() == (step == 2)
    # Auto-reset: back on the start tile, and the final observation is the last tile.
    np.testing.assert_array_equal(obs.argmax(axis=1), 0)
    np.testing.assert_array_equal(info["final_observation"].argmax(axis=1), 3)


def test_point_circle_box_actions_and_seeding():
    first = GymnasiumCMDP("PointCircle-v1", num_envs=2, seed=3)
    second = GymnasiumCMDP("PointCircle-v1", num_envs=2, seed=3)
    assert first.single_action_space.shape == (2,)
    np.testing.assert_allclose(first.single_action_space.high, [1.0, 0.25])
    np.testing.assert_array_equal(first.reset()[0], second.reset()[0])
    actions = np.array([[1.0, 0.1], [0.5, -0.2]], np.float32)
    np.testing.assert_array_equal(first.step(actions)[0], second.step(actions)[0])
    assert not np.array_equal(first.reset(seed=4)[0], second.reset(seed=5)[0])


def test_misuse_is_reported():
    env = GymnasiumCMDP("IcyLake-v1", num_envs=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(2, np.int32))
    env.reset()
    with pytest.raises(ValueError, match="leading axis of 2"):
        env.step(np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="num_envs"):
        GymnasiumCMDP("IcyLake-v1", num_envs=0)
