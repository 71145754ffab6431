"""Pictures of navigation episodes: paths drawn over each episode's layout."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxsafe_envs
from jaxsafe import pictures
from jaxsafe.episodes import run_episodes
from jaxsafe.policy import Policy, no_carry


def _towards_goal(carry, observation, key, deterministic):
    """PointHazards' observation holds the goal offset in columns 2–3: head there."""
    action = jnp.clip(observation[:, 2:4], -1.0, 1.0)
    return carry, action, {"log_prob": jnp.zeros(observation.shape[0])}


def test_navigation_paths_are_recorded_with_their_layout_and_drawn(tmp_path):
    env, params = jaxsafe_envs.make("PointHazards-v1")
    record = pictures.recorder(env, params)
    results, recording = jax.jit(
        lambda key: run_episodes(
            Policy(no_carry, _towards_goal), env, params, key, num_episodes=3, record=record
        )
    )(jax.random.key(0))
    horizon = int(params.max_steps_in_episode)
    assert recording["position"].shape == (horizon + 1, 3, 2)
    np.testing.assert_array_equal(recording["position"][0], np.zeros((3, 2)))  # the start
    layout = recording["layout"]
    np.testing.assert_allclose(layout.hazards[0, 0], [[7.5, 10.0, 2.5], [10.0, 5.0, 2.5]])
    np.testing.assert_allclose(layout.goal[-1, 2], [15.0, 15.0])
    # Heading straight at the goal crosses the first disc: the picture must show cost paid.
    assert float(results.episode_cost.min()) > 0
    files = pictures.draw(
        env, params, jax.tree.map(lambda x: x[None], recording), results.length[None],
        tmp_path, title="PointHazards-v1",
    )  # fmt: skip
    assert [path.name for path in files] == ["trajectories.png"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
