"""Shared test configs: tiny, so that every algorithm compiles and runs in seconds on a CPU."""

import pytest

from jaxsafe.config import make_config


def tiny_config(algo_name: str, env_name: str = "IcyLake-v1", updates: int = 3):
    """A valid config whose run is ``updates`` small updates of 8 envs × 16 steps."""
    config = make_config(algo_name, env_name)
    algo = config.algo
    algo.num_envs, algo.num_steps = 8, 16
    algo.num_epochs, algo.num_minibatches = 2, 2
    algo.hidden_sizes = (16, 16)
    config.total_timesteps = updates * algo.num_envs * algo.num_steps
    config.num_seeds = 2
    config.log.updates_per_chunk = 2
    config.log.progress = False
    return config


@pytest.fixture
def make_tiny_config():
    return tiny_config


@pytest.fixture
def tmp_workdir(tmp_path) -> str:
    return str(tmp_path / "run")
