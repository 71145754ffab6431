"""Evaluation: the episode runner against plain-Python IcyLake, eval.json, pictures and the CLI.

IcyLake runs with ``slip_probability=1`` so that, for a deterministic policy, every episode is
deterministic (each ice entry costs 0.5 + 10) and can be replayed by a plain loop.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxsafe_envs
from conftest import tiny_config
from jaxsafe.episodes import run_episodes
from jaxsafe.evaluation import episode_metrics, summarize
from jaxsafe.experiment import run_experiment
from jaxsafe.pictures import visit_counts
from jaxsafe.policy import Policy, no_carry
from jaxsafe.train import make_algorithm
from jaxsafe.workdir import EVAL_FILE, RunNotFoundError, load_policy, load_run

REPO = Path(__file__).resolve().parents[1]
COST_DISCOUNT = 0.999
SNOW, ICE_AND_SLIP = 2.0, 0.5 + 10.0
MOVES = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}  # left, down, right, up


def _icy_lake():
    return jaxsafe_envs.make("IcyLake-v1", slip_probability=1.0)


def _reference_episode(desc, policy, cost_discount, max_steps=100):
    """One IcyLake episode in plain Python; ``policy(tile index) -> action``."""
    rows, cols = len(desc), len(desc[0])
    position = "".join(desc).index("S")
    visited = [position]
    total = {"return": 0.0, "cost": 0.0, "discounted_cost": 0.0, "length": 0, "ice_visits": 0}
    for t in range(max_steps):
        row_step, col_step = MOVES[int(policy(position))]
        row = min(max(position // cols + row_step, 0), rows - 1)
        col = min(max(position % cols + col_step, 0), cols - 1)
        position = row * cols + col
        visited.append(position)
        tile = desc[row][col]
        cost = {"S": SNOW, "F": SNOW, "T": ICE_AND_SLIP, "G": 0.0}[tile]
        total["cost"] += cost
        total["discounted_cost"] += cost_discount**t * cost
        total["ice_visits"] += tile == "T"
        total["length"] += 1
        if tile == "G":
            total["return"] += 1.0
            break
    total["slips"] = total["ice_visits"]  # slip_probability = 1
    return total, visited


# ---------------------------------------------------------------------------------------------
# The runner on hand-made policies: no training needed
# ---------------------------------------------------------------------------------------------


def table_policy(table: jax.Array) -> Policy:
    """A policy that looks its action up in a table of actions per tile."""

    def step(carry, observation, key, deterministic):
        action = table[jnp.argmax(observation, -1)]
        return carry, action, {"log_prob": jnp.zeros(action.shape)}

    return Policy(no_carry, step)


SAFE_PATH = np.full(16, 2, np.int32)
SAFE_PATH[[2, 6, 10]] = 1  # right, right, down, down, down, right: six snow-only moves to G
TABLES = np.stack([np.full(16, 2), np.full(16, 1), SAFE_PATH]).astype(np.int32)
"""Three "seeds": always right (stuck at the wall), always down (stuck on ice), the safe path."""


def _table_runner(env, params):
    def run(table, key):
        return run_episodes(
            table_policy(table),
            env,
            params,
            key,
            num_episodes=3,
            cost_discount=COST_DISCOUNT,
            record=lambda env_state: env_state.position,
        )

    return run


@pytest.fixture(scope="module")
def table_runs():
    """Each table policy's 3 episodes under jit and vmap over the tables, with positions."""
    env, params = _icy_lake()
    keys = jax.random.split(jax.random.key(0), len(TABLES))
    results, positions = jax.jit(jax.vmap(_table_runner(env, params)))(jnp.asarray(TABLES), keys)
    return env, params, keys, results, positions


def test_runner_matches_plain_loop_and_hand_worked_totals(table_runs):
    env, params, keys, results, positions = table_runs
    assert results.episode_return.shape == (3, 3)
    assert positions.shape == (3, 101, 3)  # [seeds, H + 1, E]
    metrics = jax.device_get(episode_metrics(results))
    for seed, table in enumerate(TABLES):
        expected, visited = _reference_episode(
            env.desc, lambda tile, t=table: t[tile], COST_DISCOUNT
        )
        for name, value in expected.items():
            np.testing.assert_allclose(metrics[name][seed], value, rtol=1e-5, err_msg=name)
        counts = visit_counts(positions[seed], results.length[seed][None], 16)
        np.testing.assert_array_equal(counts, 3 * np.bincount(visited, minlength=16))
    # Hand-worked: right stays on snow 100 steps; down hits ice on step 3 and stays there.
    np.testing.assert_allclose(metrics["cost"][:, 0], [200.0, 2 * 2 + 98 * 10.5, 10.0])
    np.testing.assert_allclose(metrics["length"][:, 0], [100, 100, 6])
    np.testing.assert_allclose(metrics["return"][:, 0], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(
        metrics["discounted_cost"][2, 0], 2 * sum(0.999**t for t in range(5)), rtol=1e-6
    )

    # The same episodes without jit or vmap.
    single, _ = _table_runner(env, params)(jnp.asarray(TABLES[2]), keys[2])
    np.testing.assert_allclose(single.discounted_cost, results.discounted_cost[2])


def _threshold(config):
    return make_algorithm(config).exceedance_threshold


def test_var_exceedance_for_risk_constrained_configs_or_a_logged_threshold(table_runs):
    assert _threshold(tiny_config("cvar_ppo")) == tiny_config("cvar_ppo").algo.cost_limit
    assert _threshold(tiny_config("varcpo")) == tiny_config("varcpo").algo.cost_limit
    assert _threshold(tiny_config("ppo")) is None
    assert _threshold(tiny_config("ppo_lag")) is None  # a cost limit, but no VaR threshold
    logged = tiny_config("cpo")
    logged.log.cost_threshold = 15.0
    assert _threshold(logged) == 15.0  # any other run, when it logs a threshold
    results = table_runs[3]
    assert "var_exceedance" not in episode_metrics(results, None)
    exceeded = episode_metrics(results, 15.0)["var_exceedance"]  # costs 200, 1033, 10
    np.testing.assert_array_equal(exceeded, [[1] * 3, [1] * 3, [0] * 3])
    summary = summarize(jax.device_get(episode_metrics(results, 15.0)))
    assert summary["var_exceedance"] == {"mean": pytest.approx(2 / 3), "per_seed": [1.0, 1.0, 0.0]}


# ---------------------------------------------------------------------------------------------
# A trained run: restore, deterministic replay, eval.json, heat-map, CLI
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny CVaR-PPO run on IcyLake (2 seeds, 2 updates in one chunk)."""
    config = tiny_config("cvar_ppo", updates=2)
    config.env.kwargs.slip_probability = 1.0
    workdir = tmp_path_factory.mktemp("eval") / "run"
    run_experiment(config, workdir, report=lambda line: None)
    return workdir


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "jaxsafe.eval", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
        timeout=600,
    )


@pytest.fixture(scope="module")
def cli_eval(trained):
    return _cli("--workdir", str(trained), "--episodes", "8")


def test_deterministic_policy_matches_plain_loop(trained):
    run = load_run(trained)
    assert run.update == 2
    algorithm = run.algorithm

    def evaluate(state, key):
        return run_episodes(
            algorithm.policy(state),
            algorithm.env,
            algorithm.env_params,
            key,
            num_episodes=4,
            deterministic=True,
            cost_discount=run.config.algo.cost_discount,
        )

    results, _ = jax.jit(jax.vmap(evaluate))(run.state, jax.random.split(jax.random.key(0), 2))
    metrics = jax.device_get(episode_metrics(results, algorithm.exceedance_threshold))
    assert {name: value.shape for name, value in metrics.items()} == {
        name: (2, 4)
        for name in (
            "return",
            "cost",
            "discounted_cost",
            "var_exceedance",
            "ice_visits",
            "slips",
            "length",
        )
    }
    for seed in range(2):
        # The loaded policy of each seed, acting from Python on single observations.
        loaded = load_policy(trained, seed=seed)

        def policy(tile, loaded=loaded):
            return int(loaded.act(np.eye(16, dtype=np.float32)[tile][None])[0])

        expected, _ = _reference_episode(algorithm.env.desc, policy, run.config.algo.cost_discount)
        for name, value in expected.items():
            np.testing.assert_allclose(metrics[name][seed], value, rtol=1e-5, err_msg=name)


def test_cli_writes_eval_json_table_and_heatmap(trained, cli_eval):
    assert cli_eval.returncode == 0, cli_eval.stderr[-3000:]
    assert "discounted_cost" in cli_eval.stdout and "seed 1" in cli_eval.stdout
    report = json.loads((trained / EVAL_FILE).read_text())
    assert {key: report[key] for key in ("episodes", "deterministic", "update")} == {
        "episodes": 8,
        "deterministic": False,
        "update": 2,
    }
    metrics = report["metrics"]
    assert list(metrics) == [
        "return",
        "cost",
        "discounted_cost",
        "var_exceedance",
        "ice_visits",
        "slips",
        "length",
    ]
    for summary in metrics.values():
        assert set(summary) == {"mean", "per_seed"} and len(summary["per_seed"]) == 2
        assert summary["mean"] == pytest.approx(np.mean(summary["per_seed"]))
    assert 0.0 <= metrics["var_exceedance"]["mean"] <= 1.0
    # Every step enters one tile: snow costs 2, ice 10.5 (it always slips), the goal 0 and
    # pays 1; so per episode, hence per seed mean, C = 2 (L − I − R) + 10.5 I.
    mean = {name: np.array(summary["per_seed"]) for name, summary in metrics.items()}
    np.testing.assert_allclose(
        mean["cost"],
        SNOW * (mean["length"] - mean["ice_visits"] - mean["return"])
        + ICE_AND_SLIP * mean["ice_visits"],
        rtol=1e-5,
    )
    np.testing.assert_allclose(mean["slips"], mean["ice_visits"])
    heatmap = trained / "eval" / "visits.png"
    assert heatmap.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_run_is_a_clear_error(tmp_path):
    missing = tmp_path / "no_such_run"
    done = _cli("--workdir", str(missing))
    assert done.returncode == 2
    own = [line for line in done.stderr.splitlines() if not re.match(r"[IWEF]\d{4} ", line)]
    assert own == [f"error: work directory {missing} does not exist"]
    assert not missing.exists()
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    with pytest.raises(RunNotFoundError, match="is a file, not a directory"):
        load_run(a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(tiny_config("ppo").to_json_best_effort())
    with pytest.raises(RunNotFoundError, match="no checkpoint"):
        load_run(empty)
