"""Evaluating a trained run: complete episodes of every seed's policy, their metrics, pictures.

:func:`evaluate_run` restores the latest checkpoint of a work directory
(:func:`jaxsafe.workdir.load_run`), runs ``E`` complete episodes per seed from fresh resets with
each seed's :class:`~jaxsafe.policy.Policy` (:func:`jaxsafe.episodes.run_episodes`, vmapped over
seeds), and writes ``eval.json`` (:func:`episode_metrics`, :func:`summarize`) and the
environment's pictures under ``eval/`` (:mod:`jaxsafe.pictures`). The VaR exceedance
``P(C_γ ≥ d)`` is reported against the algorithm's ``exceedance_threshold``: a risk-constrained
algorithm's own threshold, else the config's ``log.cost_threshold``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxsafe import pictures
from jaxsafe.episodes import EpisodeResults, run_episodes
from jaxsafe.workdir import EVAL_DIR, EVAL_FILE, RunNotFoundError, load_run

__all__ = [
    "Evaluation",
    "RunNotFoundError",
    "episode_metrics",
    "evaluate_run",
    "format_table",
    "summarize",
]


def episode_metrics(
    results: EpisodeResults, threshold: float | None = None
) -> dict[str, jax.Array]:
    """Per-episode metrics by their ``eval.json`` name, each float32 shaped like the results.

    Always ``return``, ``cost``, ``discounted_cost`` and ``length``; ``var_exceedance``
    (``1[C_γ ≥ threshold]``) when ``threshold`` is given; ``ice_visits`` and ``slips`` for
    IcyLake (``Σ entered_ice``, ``Σ slipped``); ``depletion_rate`` for EcoAnt
    (``1[any depleted]``). Means over episodes give the rates.
    """
    metrics = {
        "return": results.episode_return,
        "cost": results.episode_cost,
        "discounted_cost": results.discounted_cost,
    }
    if threshold is not None:
        metrics["var_exceedance"] = results.discounted_cost >= threshold
    counters = results.counters
    if "entered_ice" in counters:
        metrics["ice_visits"] = counters["entered_ice"]
    if "slipped" in counters:
        metrics["slips"] = counters["slipped"]
    if "depleted" in counters:
        metrics["depletion_rate"] = counters["depleted"] > 0
    metrics["length"] = results.length
    return {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}


def summarize(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"mean": m, "per_seed": [m_0, ...]}}`` from per-episode metrics ``[S, E]``.

    ``per_seed`` is each seed's mean over its episodes; ``mean`` is their mean (every seed runs
    the same number of episodes, so it is also the mean over all episodes).
    """
    summary = {}
    for name, values in metrics.items():
        values = np.asarray(values, np.float64)
        if values.ndim != 2:
            raise ValueError(f"metric {name!r}: expected [seeds, episodes], got {values.shape}")
        per_seed = values.mean(axis=1)
        summary[name] = {"mean": float(per_seed.mean()), "per_seed": per_seed.tolist()}
    return summary


class Evaluation(NamedTuple):
    """What :func:`evaluate_run` produced."""

    report: dict[str, Any]  # the contents of eval.json
    files: list[Path]  # eval.json and the pictures written
    skipped: list[tuple[int, str]]  # (update, reason) of newer checkpoints that did not restore


def evaluate_run(
    workdir: str | Path,
    num_episodes: int = 100,
    deterministic: bool = False,
    seed: int = 0,
) -> Evaluation:
    """Evaluates every seed of the run in ``workdir``; writes ``eval.json`` and ``eval/``.

    Args:
      workdir: a work directory of :func:`jaxsafe.experiment.run_experiment`.
      num_episodes: complete episodes per seed, run in parallel from fresh resets.
      deterministic: act with the policy's mode instead of sampling.
      seed: seed of the evaluation's PRNG key.

    Returns:
      The report written to ``<workdir>/eval.json``,
      ``{"episodes", "deterministic", "update", "metrics": {name: {"mean", "per_seed"}}}``,
      the paths written: ``eval.json`` and the environment's pictures in
      ``<workdir>/eval/`` (:mod:`jaxsafe.pictures`), and the newer checkpoints skipped because
      they do not restore (the newest one that does is evaluated).

    Raises:
      RunNotFoundError: no run or no checkpoint in ``workdir``.
      WorkdirError: there are checkpoints, but none restores.
      ValueError: ``num_episodes`` < 1.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be at least 1, got {num_episodes}")
    workdir = Path(workdir)
    run = load_run(workdir)
    algorithm = run.algorithm
    env, env_params = algorithm.env, algorithm.env_params
    num_seeds = jax.tree.leaves(run.state)[0].shape[0]
    episodes = functools.partial(
        run_episodes,
        env=env,
        env_params=env_params,
        num_episodes=num_episodes,
        deterministic=deterministic,
        cost_discount=float(run.config.algo.cost_discount),
    )

    def evaluate(state, key):
        return episodes(algorithm.policy(state), key=key, record=pictures.recorder(env, env_params))

    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    results, recording = jax.jit(jax.vmap(evaluate))(run.state, keys)
    metrics = episode_metrics(results, algorithm.exceedance_threshold)
    names = list(metrics)  # device_get sorts dict keys; keep episode_metrics' order
    results, recording, metrics = jax.device_get((results, recording, metrics))
    metrics = {name: metrics[name] for name in names}
    report = {
        "episodes": num_episodes,
        "deterministic": bool(deterministic),
        "update": run.update,
        "metrics": summarize(metrics),
    }
    path = workdir / EVAL_FILE
    path.write_text(json.dumps(report, indent=2))

    replay = None
    replay_recorder = pictures.replay_recorder(env)
    if replay_recorder is not None:
        state = jax.tree.map(lambda leaf: leaf[0], run.state)

        def one_episode(state, key):
            policy = algorithm.policy(state)
            return episodes(policy, key=key, num_episodes=1, record=replay_recorder)

        replay_results, states = jax.device_get(jax.jit(one_episode)(state, keys[0]))
        replay = (states, int(replay_results.length[0]))
    files = [path] + pictures.draw(
        env,
        env_params,
        recording,
        results.length,
        workdir / EVAL_DIR,
        title=f"{run.config.env.name}, seed 0, update {run.update}",
        replay=replay,
    )
    return Evaluation(report, files, run.skipped)


def format_table(report: dict[str, Any], workdir: str | Path | None = None) -> str:
    """A plain-text table of an ``eval.json`` report: one row per metric, mean and each seed."""
    metrics = report["metrics"]
    num_seeds = len(next(iter(metrics.values()))["per_seed"])
    policy = "deterministic" if report["deterministic"] else "stochastic"
    where = f" of {workdir}" if workdir is not None else ""
    lines = [
        f"evaluation{where} after update {report['update']}: "
        f"{report['episodes']} episodes per seed, {policy} policy"
    ]
    width = max(len(name) for name in metrics)
    header = [f"{'metric':<{width}}", f"{'mean':>10}"] + [
        f"{f'seed {s}':>10}" for s in range(num_seeds)
    ]
    lines.append("  ".join(header))
    for name, values in metrics.items():
        row = [f"{name:<{width}}", f"{values['mean']:>10.4g}"]
        row += [f"{value:>10.4g}" for value in values["per_seed"]]
        lines.append("  ".join(row))
    return "\n".join(lines)
