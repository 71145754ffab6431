"""The ``flip`` family: one program for S members, equal to S single runs; logs, resume, report.

One tiny family (IcyLake, 2 members, 2 seeds, 4 updates in chunks of 2) is trained once per
module through :func:`jaxsafe.experiment.run_experiment` and reused: the no-retrace count, the
bit-for-bit resume, the equality with single ``cpo`` runs and the evaluation report all read it.
Those compile several CPO programs (about 3 minutes on 2 busy cores), so they are ``slow``; the
default suite checks the config errors and the family's shapes by tracing alone.
"""

import dataclasses
import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import tiny_config
from jaxsafe.algorithms import flip
from jaxsafe.config import ConfigError, validate
from jaxsafe.experiment import run_experiment
from jaxsafe.flip_report import evaluate_family, write_report
from jaxsafe.train import make_algorithm, make_train
from jaxsafe.workdir import load_run, seed_keys

LIMITS = (0.5, 30.0)
UPDATES = 4


def family_config(updates: int = UPDATES):
    config = tiny_config("flip", updates=updates)
    config.algo.cost_limits = LIMITS
    config.algo.budget = 10.0
    return config


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """Runs A (4 updates) and B (2, then resumed to 4) with one algorithm object, whose
    ``update`` counts its traces."""
    config = family_config()
    algorithm = make_algorithm(config)
    traces, update_once = [], algorithm.update

    def update(state):
        traces.append(1)
        return update_once(state)

    algorithm = dataclasses.replace(algorithm, update=update)
    root = tmp_path_factory.mktemp("flip")
    state_a = run_experiment(config, root / "a", algorithm, report=lambda line: None)
    run_experiment(family_config(2), root / "b", algorithm, report=lambda line: None)
    state_b = run_experiment(config, root / "b", algorithm, report=lambda line: None)
    return {
        "config": config,
        "root": root,
        "states": (jax.device_get(state_a), jax.device_get(state_b)),
        "traces": traces,
    }


def test_family_is_one_program_with_a_member_axis():
    config = family_config()
    state, metrics = jax.eval_shape(make_train(config), jax.random.PRNGKey(0))  # traced only
    assert state.cost_limits.shape == (len(LIMITS),)
    for leaf in jax.tree.leaves(state.members):
        assert leaf.shape[0] == len(LIMITS)
    assert metrics["episode/return"].shape == (UPDATES, len(LIMITS))
    assert metrics["cost_limit"].shape == (UPDATES, len(LIMITS))


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bad_family_configs_name_the_field_before_compiling():
    for field, value, message in [
        ("cost_limits", (), "config.algo.cost_limits = (): must hold at least one limit"),
        ("cost_limits", (1.0, -2.0), "config.algo.cost_limits = (1.0, -2.0): every limit"),
        ("base", "sac", "config.algo.base = 'sac': unknown base algorithm"),
        ("flip_mode", "sometimes", "config.algo.flip_mode = 'sometimes'"),
        ("budget", -1.0, "config.algo.budget = -1.0"),
    ]:
        config = family_config()
        config.algo[field] = value
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
            validate(config)
    config = family_config()
    config.algo.budget_coordinate, config.algo.budget = "violation", 1.5
    with pytest.raises(ConfigError, match="α must lie in"):
        validate(config)
    with pytest.raises(ConfigError, match="cost_limits = -1.0: every limit must be finite"):
        make_train(family_config())(jax.random.PRNGKey(0), cost_limits=np.array([1.0, -1.0]))


def test_other_bases_build_with_their_own_fields():
    from jaxsafe.config import make_config

    for base in ("ppo_lag", "trpo_lag", "varcpo"):
        config = make_config("flip", "IcyLake-v1", base=base)
        validate(config)
        assert config.algo.base == base and "cost_limit" not in config.algo


@pytest.mark.slow
def test_resume_is_bit_for_bit_without_retracing(family):
    state_a, state_b = family["states"]
    jax.tree.map(np.testing.assert_array_equal, state_a, state_b)
    # Every chunk, both runs and the resume: one program, which traces ``update`` twice (the
    # metric rows' shapes, then the loop body; jaxsafe.train.run_some_updates).
    assert len(family["traces"]) == 2
    rows_a = _rows(family["root"] / "a" / "metrics.jsonl")
    rows_b = _rows(family["root"] / "b" / "metrics.jsonl")
    assert rows_a == rows_b
    assert len(rows_a) == UPDATES * 2 * len(LIMITS)  # update × seed × member
    assert {(row["member"], row["cost_limit"]) for row in rows_a} == {(0, 0.5), (1, 30.0)}
    assert (family["root"] / "a" / "plots" / "member_1" / "episode_cost.png").is_file()


@pytest.mark.slow
def test_member_i_is_the_single_cpo_run_at_its_limit(family):
    state = family["states"][0]
    single = tiny_config("cpo", updates=UPDATES)
    single.algo.cost_limit = LIMITS[0]
    single_train = make_train(single)
    train = jax.jit(jax.vmap(lambda key, d: single_train(key, cost_limit=d), in_axes=(0, None)))
    keys = seed_keys(family["config"])
    metrics_a = _rows(family["root"] / "a" / "metrics.jsonl")
    for member, limit in enumerate(LIMITS):
        single_state, metrics = jax.device_get(train(keys, limit))
        member_params = jax.tree.map(lambda leaf, m=member: leaf[:, m], state.members)
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6),
            member_params.policy_params,
            single_state.policy_params,
        )
        for row in (r for r in metrics_a if r["member"] == member):
            for name in ("episode/return", "episode/cost", "constraint/violation"):
                np.testing.assert_allclose(
                    row[name],
                    metrics[name][row["seed"], row["update"] - 1],
                    rtol=2e-5,
                    atol=2e-5,
                )


@pytest.mark.slow
def test_family_report_predicts_and_measures_both_modes(family):
    run = load_run(family["root"] / "a")
    report = evaluate_family(run, num_episodes=32)
    files = write_report(report, family["root"] / "a", "test")
    assert [path.name for path in files] == ["flip.json", "flip.md", "flip.png"]
    for seed in report["seeds"]:
        assert len(seed["members"]) == len(LIMITS)
        lp = seed["lp"]
        costs = [member["cost"]["mean"] for member in seed["members"]]
        assert lp["feasible"] == (min(costs) <= 10.0)
        assert set(seed["measured"]) == {"per_episode", "per_step"}
        for estimate in seed["measured"]["per_step"].values():
            assert estimate["low"] <= estimate["mean"] <= estimate["high"]
    table = (family["root"] / "a" / "flip.md").read_text()
    assert "LP prediction" in table and "measured, per_step" in table


@pytest.mark.slow
def test_flip_algorithm_policy_defaults_to_member_zero(family):
    algorithm = make_algorithm(family["config"])
    state = jax.tree.map(lambda leaf: leaf[0], family["states"][0])
    assert int(state.mixture.first) == 0 and float(state.mixture.weight) == 1.0
    assert algorithm.members == len(LIMITS) and flip.BASES["cpo"] is not None


@pytest.mark.slow
def test_eval_cli_prints_predicted_vs_measured(family):
    workdir = family["root"] / "a"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from jaxsafe.eval import cli; cli()",
            "--workdir",
            str(workdir),
            "--episodes",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "LP prediction" in done.stdout and "measured, per_episode" in done.stdout
    assert (workdir / "flip.png").is_file()
