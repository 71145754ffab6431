"""The command-line tools: console scripts, ``--list`` and ``--dry-run``."""

import ast
import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import pytest

import jaxsafe_envs
from conftest import tiny_config
from jaxsafe import catalog, dry_run
from jaxsafe.algorithms import ALGORITHMS

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = {
    "jaxsafe-run": "jaxsafe.run:cli",
    "jaxsafe-eval": "jaxsafe.eval:cli",
    "jaxsafe-compare": "jaxsafe.compare:cli",
}


def _python(code, *args):
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "JAX_LOG_COMPILES": "1"},
        timeout=600,
    )


def test_console_scripts_are_declared_and_point_at_functions():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert declared == SCRIPTS
    for target in declared.values():  # each defines its own absl flags: one import a process
        module, _, function = target.partition(":")
        tree = ast.parse(Path(find_spec(module).origin).read_text())
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert function in functions, target


def test_the_installed_distribution_has_the_console_scripts():
    distribution = metadata.distribution("jaxsafe")
    source = json.loads(distribution.read_text("direct_url.json") or "{}").get("url", "")
    if source.removeprefix("file://") != str(REPO):
        pytest.skip(f"jaxsafe is installed from {source or 'elsewhere'}, not {REPO}")
    scripts = {e.name: e.value for e in distribution.entry_points if e.group == "console_scripts"}
    assert scripts == SCRIPTS


def test_list_has_one_line_per_algorithm_environment_and_experiment():
    lines = catalog.listing().splitlines()
    experiments = sorted(path.name for path in (REPO / "experiments").glob("*.py"))
    names = [*ALGORITHMS, *jaxsafe_envs.registered(), *experiments]
    for name in names:
        (line,) = [line for line in lines if line.split()[:1] == [name]]
        assert len(line.split()) > 2, line  # a description follows the name
    assert f"(--config {REPO / 'experiments'}/FILE)" in catalog.listing()


def test_list_says_when_the_experiment_configs_are_not_installed(tmp_path):
    assert "experiment configs: not installed" in catalog.listing(tmp_path / "missing")


def test_list_from_the_command_line():
    done = _python("from jaxsafe.run import cli; cli()", "--list")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == catalog.listing()


def test_batch_arithmetic_of_a_tiny_config():
    config = tiny_config("ppo")  # 8 envs × 16 steps, 2 minibatches, 2 epochs, 2 seeds
    config.total_timesteps = 3 * 128 + 100
    assert dry_run.batch_arithmetic(config).splitlines() == [
        "batch: 8 envs × 16 steps = 128 env steps per update (per seed)",
        "minibatches: 2 of 64 steps, 2 epochs per update",
        "updates: total_timesteps 484 // 128 = 3 (the last 100 steps are not run)",
        "env steps per seed: 3 × 128 = 384",
        "seeds: 2, trained as one program: 768 env steps in all",
        "compiled calls: 2 of up to 2 updates (log.updates_per_chunk), a checkpoint after "
        "every 1 and at the end",
    ]
    trust_region = dry_run.batch_arithmetic(tiny_config("varcpo")).splitlines()[1]
    assert trust_region.endswith("(the critics; the policy takes one trust-region step on the "
                                 "whole batch)")  # fmt: skip


def test_dry_run_prints_config_and_arithmetic_and_compiles_nothing(tmp_path):
    done = _python(
        "import sys; from jaxsafe.run import cli; "
        "print('IMPORTED', file=sys.stderr, flush=True); cli()",
        "--config=experiments/varcpo_icylake.py",
        "--dry-run",
        "--config.num_seeds=4",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Compiling" not in done.stderr.partition("IMPORTED")[2]
    config_text, _, arithmetic = done.stdout.partition("\n\n")
    assert json.loads(config_text.removeprefix("config:\n"))["num_seeds"] == 4
    assert arithmetic.splitlines()[0] == (
        "batch: 32 envs × 128 steps = 4,096 env steps per update (per seed)"
    )
    assert "seeds: 4, trained as one program: 1,589,248 env steps in all" in arithmetic
