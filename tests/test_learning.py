"""Learning checks on the shipped experiment configs (slow: run with ``pytest -m slow``)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from jaxsafe.evaluation import evaluate_run
from jaxsafe.experiment import run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def _experiment(name: str):
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _train_and_evaluate(name, workdir, deterministic):
    run_experiment(_experiment(name), workdir, report=lambda line: None)
    metrics = evaluate_run(workdir, num_episodes=200, deterministic=deterministic).report["metrics"]
    return {key: np.asarray(value["per_seed"]) for key, value in metrics.items()}


@pytest.mark.slow
def test_ppo_solves_icy_lake(tmp_path):
    metrics = _train_and_evaluate("ppo_icylake", tmp_path, deterministic=True)
    assert (metrics["return"] >= 0.95).all(), metrics["return"]


@pytest.mark.slow
def test_ppo_lagrangian_keeps_point_circle_within_its_cost_limit(tmp_path):
    metrics = _train_and_evaluate("ppo_lag_pointcircle", tmp_path, deterministic=False)
    assert metrics["cost"].mean() <= 5.0, metrics["cost"]
    assert (metrics["return"] > 0.0).all(), metrics["return"]


@pytest.mark.slow
def test_varcpo_takes_the_all_snow_path_on_icy_lake(tmp_path):
    """VaR-CPO at d = 15, α = 0.05: only the all-snow path (cost exactly 10) is feasible."""
    metrics = _train_and_evaluate("varcpo_icylake", tmp_path, deterministic=False)
    assert (metrics["return"] >= 0.95).all(), metrics["return"]
    np.testing.assert_allclose(metrics["cost"], 10.0, atol=0.5)
    assert (metrics["var_exceedance"] <= 0.05).all(), metrics["var_exceedance"]
    assert (metrics["ice_visits"] <= 0.1).all(), metrics["ice_visits"]


@pytest.mark.slow
def test_cpo_keeps_point_circle_within_its_cost_limit(tmp_path):
    metrics = _train_and_evaluate("cpo_pointcircle", tmp_path, deterministic=False)
    assert metrics["cost"].mean() <= 5.0, metrics["cost"]
    assert (metrics["return"] > 0.0).all(), metrics["return"]


def _training_excess(workdir, limit):
    """Mean over seeds and updates of max(0, episode cost − d) during training."""
    rows = [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").open()]
    return float(np.mean([max(0.0, row["episode/cost"] - limit) for row in rows]))


@pytest.mark.slow
def test_cppo_keeps_point_circle_within_its_cost_limit_and_recovery_cuts_violations(tmp_path):
    """CPPO-EM at the paper's PointCircle budget (Table 1: 4 seeds × 2×10⁵ steps, d = 5), and
    its ablation without the recovery update.

    The paper reports a cost of about 15 without recovery. Measured here (docs/results.md), the
    ablation overshoots d by 5× more during training (mean excess 1.03 vs 0.20: costs of 8–15
    for its first 40 updates, where recovery is back under d within 5), but ends *below* the
    recovery run's cost, at a lower return; so the comparison is on the training excess.
    """
    metrics = _train_and_evaluate("cppo_pointcircle", tmp_path / "recovery", deterministic=False)
    assert metrics["cost"].mean() <= 5.0, metrics["cost"]
    assert (metrics["return"] > 0.0).all(), metrics["return"]
    run_experiment(
        _experiment("cppo_pointcircle_no_recovery"), tmp_path / "none", report=lambda line: None
    )
    with_recovery = _training_excess(tmp_path / "recovery", 5.0)
    without = _training_excess(tmp_path / "none", 5.0)
    assert without > 2.0 * with_recovery, (without, with_recovery)
