"""Learning checks on the shipped experiment configs (slow: run with ``pytest -m slow``)."""

import importlib.util
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
