"""Resuming a run: one metrics row per (update, seed), nothing written before the checks,
damaged checkpoints skipped and kept, inexact resumes refused, Ctrl-C saved and named."""

import dataclasses
import json
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from jaxsafe.config import ConfigError
from jaxsafe.experiment import RunInterrupted, TrainingDiverged, run_experiment
from jaxsafe.resume import rewind_metrics
from jaxsafe.train import make_algorithm
from jaxsafe.workdir import WorkdirError, load_run


def _rows(workdir):
    return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def _keys(workdir):
    return [(row["update"], row["seed"]) for row in _rows(workdir)]


def _quiet(_line):
    pass


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A tiny PPO run of 3 updates in chunks of 2 + 1: checkpoints after updates 2 and 3."""
    workdir = tmp_path_factory.mktemp("resume") / "finished"
    run_experiment(tiny_config("ppo"), workdir, report=_quiet)
    return workdir


def _copy(source: Path, target: Path) -> Path:
    """A copy of a work directory (its checkpoints included)."""
    shutil.copytree(source, target)
    return target


def test_rewind_keeps_one_row_per_update_and_seed_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [
        {"update": 1, "seed": 0, "x": 1},
        {"update": 1, "seed": 1, "x": 1},
        {"update": 2, "seed": 0, "x": 1},
        {"update": 1, "seed": 0, "x": 2},  # a rerun after a kill before the first checkpoint
        {"update": 1, "seed": 1, "x": 2},
        {"update": 2, "seed": 0, "x": 2},
        {"update": 2, "seed": 1, "x": 2},
        {"update": 3, "seed": 0, "x": 2},  # logged after the checkpoint being resumed from
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"update": 3, "se')
    rewind_metrics(path, 2)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"update": u, "seed": s, "x": 2} for u in (1, 2) for s in (0, 1)
    ]
    rewind_metrics(path, 0)
    assert path.read_text() == ""


def test_a_rerun_without_checkpoint_logs_each_update_once(finished, tmp_path):
    """A run killed before its first checkpoint left rows 1-3 behind; the rerun rewrites them."""
    workdir = _copy(finished, tmp_path / "run")
    for path in (workdir / "checkpoints").iterdir():
        os.rename(path, tmp_path / path.name)  # as if killed before the first checkpoint
    run_experiment(tiny_config("ppo"), workdir, report=_quiet)
    assert _keys(workdir) == [(u, s) for u in (1, 2, 3) for s in (0, 1)]
    assert _rows(workdir) == _rows(finished)


def test_nothing_is_written_before_config_env_and_algorithm_are_checked(tmp_path):
    workdir = tmp_path / "run"
    bad_option = tiny_config("ppo")
    bad_option.env.kwargs.map_name = "5x5"
    with pytest.raises(ConfigError, match="config.env.kwargs = .*unknown map_name '5x5'"):
        run_experiment(bad_option, workdir, report=_quiet)
    misspelt = tiny_config("ppo")
    misspelt.env.kwargs.map_nam = "8x8"
    with pytest.raises(ConfigError, match="did you mean 'map_name'\\? valid: \\['map_name'"):
        run_experiment(misspelt, workdir, report=_quiet)
    switched = tiny_config("ppo")
    switched.algo.name = "ppo_lag"  # --config.algo.name=ppo_lag on a PPO config
    with pytest.raises(ConfigError, match="config.algo.cost_limit is missing"):
        run_experiment(switched, workdir, report=_quiet)
    assert not workdir.exists()
    workdir.write_text("")
    with pytest.raises(WorkdirError, match="is a file"):
        run_experiment(tiny_config("ppo"), workdir, report=_quiet)


def test_a_nan_at_the_first_update_leaves_the_workdir_reusable(tmp_path):
    config = tiny_config("ppo", updates=2)
    algorithm = make_algorithm(config)

    def poisoned(state):
        state, metrics = algorithm.update(state)
        return state, {**metrics, "loss/value": metrics["loss/value"] * jnp.nan}

    with pytest.raises(TrainingDiverged, match="update 1 .*nothing was saved"):
        run_experiment(
            config, tmp_path, dataclasses.replace(algorithm, update=poisoned), report=_quiet
        )
    corrected = tiny_config("ppo", updates=2)
    corrected.seed = 1  # a field that may not change on resume
    run_experiment(corrected, tmp_path, report=_quiet)
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 1
    assert _keys(tmp_path) == [(u, s) for u in (1, 2) for s in (0, 1)]


def test_fewer_steps_than_done_are_refused_without_rewriting_anything(finished):
    before = {name: (finished / name).read_bytes() for name in ("config.json", "metrics.jsonl")}
    with pytest.raises(ConfigError, match="makes 2 updates, fewer than the 3 already done"):
        run_experiment(tiny_config("ppo", updates=2), finished, report=_quiet)
    assert {name: (finished / name).read_bytes() for name in before} == before


def test_a_new_total_with_anneal_lr_is_refused_or_continued_with_a_warning(tmp_path):
    config = tiny_config("ppo", updates=2)
    config.algo.anneal_lr = True
    run_experiment(config, tmp_path, report=_quiet)
    longer = tiny_config("ppo", updates=3)
    longer.algo.anneal_lr = True
    with pytest.raises(ConfigError, match="anneal_lr .*--allow_inexact_resume"):
        run_experiment(longer, tmp_path, report=_quiet)
    lines = []
    run_experiment(longer, tmp_path, report=lines.append, allow_inexact_resume=True)
    assert any(line.startswith("warning: algo.anneal_lr") for line in lines)
    assert _keys(tmp_path)[-1] == (3, 1)


def test_a_damaged_latest_checkpoint_is_skipped_named_and_kept(finished, tmp_path):
    workdir = _copy(finished, tmp_path / "run")
    checkpoints = workdir / "checkpoints"
    for data in (checkpoints / "3" / "default" / "d").iterdir():
        os.truncate(data, data.stat().st_size // 2)
    unfinished = checkpoints / "4.orbax-checkpoint-tmp-1234"
    unfinished.mkdir()
    assert load_run(workdir).update == 2  # evaluation falls back too, and moves nothing
    assert load_run(workdir).skipped[0][0] == 3 and (checkpoints / "3").is_dir()

    lines = []
    final = run_experiment(tiny_config("ppo"), workdir, report=lines.append)
    assert any("checkpoint after update 3 does not restore" in line for line in lines)
    assert any(f"removed {unfinished}" in line for line in lines)
    assert (checkpoints / "3.damaged" / "default").is_dir()  # kept, beside the new one
    assert not unfinished.exists()
    assert sorted(p.name for p in checkpoints.iterdir()) == ["2", "3", "3.damaged"]
    assert _rows(workdir) == _rows(finished)
    expected = load_run(finished).state
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(final), jax.device_get(expected))


def test_a_missing_item_folder_is_named_and_no_restorable_checkpoint_is_refused(finished, tmp_path):
    workdir = _copy(finished, tmp_path / "run")
    shutil.rmtree(workdir / "checkpoints" / "3" / "default")
    assert load_run(workdir).skipped == [
        (3, f"its folder {workdir.absolute()}/checkpoints/3/default is missing")
    ]
    shutil.rmtree(workdir / "checkpoints" / "2" / "default")
    with pytest.raises(WorkdirError, match="no checkpoint in .* restores .*after update 2"):
        run_experiment(tiny_config("ppo"), workdir, report=_quiet)


def test_ctrl_c_saves_the_state_reached_and_names_the_update(finished, tmp_path):
    config = tiny_config("ppo")
    config.log.progress = True
    config.checkpoint.every_chunks = 5  # nothing would be saved before the end otherwise

    def interrupt(line):
        if line.startswith("update 2/3"):
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted, match="interrupted after update 2; run the same command"):
        run_experiment(config, tmp_path, report=interrupt)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2"]
    run_experiment(config, tmp_path, report=_quiet)
    assert _rows(tmp_path) == _rows(finished)
