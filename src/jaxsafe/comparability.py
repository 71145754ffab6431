"""What ``jaxsafe.compare`` warns about: runs that cannot be compared as they stand.

Runs compare fairly when they ran on the same environment with the same options, were
evaluated the same way, and logged what is asked of them. :func:`comparison_warnings` returns
one line for each problem:

- a run without ``eval.json`` (its row of the evaluation table stays empty);
- a training metric or ``eval.json`` metric that no run has (a misspelt name), listing those
  there are, and one that only some runs have;
- runs on different environments or environment options (``config.json``'s ``env``);
- runs evaluated with different numbers of episodes or policies (``eval.json``'s
  ``episodes`` and ``deterministic``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxsafe.plotting import load_metrics
from jaxsafe.workdir import CONFIG_FILE, EVAL_FILE, read_json

_NOT_METRICS = ("update", "env_steps")
"""Columns of ``metrics.jsonl`` that are coordinates, not metrics."""


def comparison_warnings(
    runs: Mapping[str, str | Path],
    metrics: Sequence[str],
    eval_metrics: Sequence[str],
) -> list[str]:
    """The problems of comparing ``runs`` on ``metrics`` and ``eval_metrics``, one line each.

    Args:
        runs: label to the run's work directory, which holds ``metrics.jsonl``.
        metrics: training metrics (``metrics.jsonl`` columns) to be plotted.
        eval_metrics: ``eval.json`` metrics to be tabulated.

    Returns:
        Warning lines, without a ``warning:`` prefix; empty when the runs compare cleanly.
    """
    workdirs = {label: Path(workdir) for label, workdir in runs.items()}
    evaluations = {
        label: read_json(workdir / EVAL_FILE)
        for label, workdir in workdirs.items()
        if (workdir / EVAL_FILE).is_file()
    }
    warnings = [
        f"run {label} ({workdir}) has no {EVAL_FILE}: its evaluation row is empty; "
        f"run python -m jaxsafe.eval --workdir {workdir}"
        for label, workdir in workdirs.items()
        if label not in evaluations
    ]
    logged = {
        label: {name for seed in load_metrics(workdir).values() for name in seed} - {*_NOT_METRICS}
        for label, workdir in workdirs.items()
    }
    warnings += _missing(metrics, logged, "training metric", "logged")
    evaluated = {label: set(report["metrics"]) for label, report in evaluations.items()}
    warnings += _missing(eval_metrics, evaluated, f"{EVAL_FILE} metric", "evaluated")
    environments = {
        label: _environment(workdir / CONFIG_FILE)
        for label, workdir in workdirs.items()
        if (workdir / CONFIG_FILE).is_file()
    }
    warnings += _differing("ran on different environments", environments)
    modes = {
        label: f"{report['episodes']} episodes, "
        f"{'deterministic' if report['deterministic'] else 'sampled'} policy"
        for label, report in evaluations.items()
    }
    warnings += _differing("were evaluated differently", modes)
    return warnings


def _missing(
    names: Sequence[str], available: Mapping[str, set[str]], kind: str, verb: str
) -> list[str]:
    """Lines for each of ``names`` that no run, or only some runs, of ``available`` have."""
    if not available:
        return []
    known = sorted(set().union(*available.values()))
    lines = []
    for name in names:
        without = [label for label, names_there in available.items() if name not in names_there]
        if len(without) == len(available):
            lines.append(f"{kind} {name!r}: no run {verb} it; there are {', '.join(known)}")
        elif without:
            lines.append(f"{kind} {name!r}: not {verb} by run {', '.join(without)}")
    return lines


def _differing(what: str, values: Mapping[str, str]) -> list[str]:
    """One line naming every run's value when the runs do not all share one."""
    if len(set(values.values())) <= 1:
        return []
    return [f"the runs {what}: " + "; ".join(f"{k}: {v}" for k, v in values.items())]


def _environment(config_path: Path) -> str:
    """``"NAME"`` or ``"NAME key=value, ..."`` of the run's ``config.json``."""
    env: dict[str, Any] = read_json(config_path)["env"]
    options = ", ".join(f"{key}={value!r}" for key, value in sorted(env["kwargs"].items()))
    return f"{env['name']} {options}".strip()
