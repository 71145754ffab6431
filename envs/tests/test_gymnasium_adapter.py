"""The host-side Gymnasium adapter: a Safety-Gymnasium-style ``VectorEnv``, its five-tuple view
and a single-environment ``gymnasium.Env`` checked by Gymnasium's own checker."""

import re
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from jaxsafe_envs.gymnasium_adapter import CostInInfo, GymnasiumCMDP, GymnasiumEnv


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


def test_is_a_gymnasium_vector_env():
    env = GymnasiumCMDP("PointCircle-v1", num_envs=3, seed=0, episode_length=2)
    assert isinstance(env, gymnasium.vector.VectorEnv) and env.num_envs == 3
    assert env.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    assert env.action_space == batch_space(env.single_action_space, 3)
    assert env.observation_space == batch_space(env.single_observation_space, 3)
    assert env.action_space.shape == (3, 2) and env.observation_space.shape == (3, 9)
    obs, info = env.reset(seed=7, options={})
    assert obs in env.observation_space and info == {}
    np.testing.assert_array_equal(obs, env.reset(seed=7)[0])
    env.action_space.seed(0)
    for _ in range(2):
        obs, reward, cost, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs in env.observation_space
    # Same-step auto-reset: every episode ended at step 2, Gymnasium's final_obs holds its end.
    assert truncated.all() and info["_final_obs"].all()
    np.testing.assert_array_equal(np.stack(info["final_obs"]), info["final_observation"])
    with pytest.raises(ValueError, match="options"):
        env.reset(options={"reset_mask": np.ones(3, bool)})
    env.close()
    assert env.closed


def test_gymnasium_vector_wrappers_run_on_the_five_tuple_view():
    env = RecordEpisodeStatistics(
        CostInInfo(GymnasiumCMDP("IcyLake-v1", num_envs=2, max_steps_in_episode=3))
    )
    env.reset(seed=0)
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(np.full(2, 2))
    np.testing.assert_array_equal(info["cost"], 2.0)
    np.testing.assert_array_equal(info["episode"]["l"], 3)
    assert truncated.all() and obs.shape == (2, 16)


@pytest.mark.parametrize("name", ["IcyLake-v1", "PointCircle-v1", "PointHazards-v1"])
def test_single_env_view_passes_gymnasium_check_env(name):
    env = GymnasiumEnv(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [
        str(w.message)
        for w in caught
        if not re.search(r"infinity|Not able to test alternative render modes", str(w.message))
    ]
    assert not unexpected


def test_single_env_view_ends_episodes_like_a_gymnasium_env():
    env = GymnasiumEnv("IcyLake-v1", max_steps_in_episode=2)
    obs, info = env.reset(seed=0)
    assert obs.argmax() == 0 and info == {}
    obs, reward, terminated, truncated, info = env.step(2)
    assert obs.argmax() == 1 and (reward, terminated, truncated) == (0.0, False, False)
    assert info["cost"] == 2.0
    obs, *_, truncated, _ = env.step(2)
    assert obs.argmax() == 2 and truncated  # the last observation, not the next episode's first


@pytest.mark.parametrize(
    ("name", "actions", "message"),
    [
        ("IcyLake-v1", np.zeros((2, 1), np.int64), r"expected shape \(2,\).*got \(2, 1\)"),
        ("IcyLake-v1", np.array([0, 4]), r"expected integers in \[0, 3\], got \[4\]"),
        ("IcyLake-v1", np.array([-1, 0]), r"expected integers in \[0, 3\], got \[-1\]"),
        ("IcyLake-v1", np.array([0.0, 1.0]), r"expected integers in \[0, 3\], got dtype float64"),
        ("PointCircle-v1", np.zeros((2, 3)), r"expected shape \(2, 2\).*got \(2, 3\)"),
        ("PointCircle-v1", np.array([[0, 0], [np.nan, 0]]), r"finite.*NaN or inf.*\[1\]"),
        ("PointCircle-v1", np.array([[np.inf, 0], [0, 0]]), r"finite.*NaN or inf.*\[0\]"),
    ],
)
def test_bad_actions_get_one_line_value_errors(name, actions, message):
    env = GymnasiumCMDP(name, num_envs=2)
    env.reset()
    with pytest.raises(ValueError, match=message) as error:
        env.step(actions)
    assert "\n" not in str(error.value)
