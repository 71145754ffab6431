"""The run's progress lines: ``compiling …`` first, env steps per seed, an ETA without the
compilation."""

import numpy as np

from conftest import tiny_config
from jaxsafe.experiment import run_experiment
from jaxsafe.progress import Progress


def _metrics(seeds=3, count=10):
    return {
        "episode/count": np.ones((seeds, count)),
        "episode/return": np.full((seeds, count), 0.5),
        "episode/cost": np.full((seeds, count), 2.0),
    }


def test_eta_comes_from_the_chunks_after_the_compiling_one():
    lines, now = [], [0.0]
    progress = Progress(100, 1000, 3, lines.append, clock=lambda: now[0])
    progress.compiling("ppo on IcyLake-v1", 10)
    now[0] = 60.0  # compiling and running the first chunk
    progress.update(10, _metrics())
    now[0] = 62.0  # 10 updates of 3 seeds in 2 s: 15,000 steps/s
    progress.update(20, _metrics())
    now[0] = 66.0  # then 10 updates in 4 s: 7,500 steps/s, 10,000 on average since update 10
    progress.update(30, _metrics())
    assert lines[0] == "compiling ppo on IcyLake-v1 (3 seeds, 10 updates per compiled call) …"
    assert lines[1].split(" | ")[:3] == [
        "update 10/100",
        "env steps 10,000/100,000 per seed",
        "first chunk 60.0 s, compilation included",
    ]
    assert lines[2].split(" | ")[:4] == [
        "update 20/100",
        "env steps 20,000/100,000 per seed",
        "15,000 steps/s (3 seeds)",
        "ETA 00:00:16",  # 80 updates × 3,000 steps / 15,000 steps/s
    ]
    assert lines[3].split(" | ")[2:] == [
        "7,500 steps/s (3 seeds)",
        "ETA 00:00:21",  # 70 × 3,000 / 10,000
        "return 0.500",
        "cost 2.000",
    ]


def test_a_run_says_compiling_first_and_counts_env_steps_per_seed(tmp_path):
    config = tiny_config("ppo", updates=2)  # 2 updates of 8 envs × 16 steps, 2 seeds
    config.log.updates_per_chunk = 1  # two chunks, one compilation
    config.log.progress = True
    lines = []
    run_experiment(config, tmp_path / "run", report=lines.append)
    assert lines[0].startswith("compiling ppo on IcyLake-v1 (2 seeds, 1 update per compiled call)")
    progress = [line for line in lines if line.startswith("update ")]
    assert [line.split(" | ")[1] for line in progress] == [
        "env steps 128/256 per seed",
        f"env steps {config.total_timesteps}/256 per seed",
    ]
    assert "ETA" not in progress[0] and "ETA 00:00:00" in progress[1]
