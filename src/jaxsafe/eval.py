"""``jaxsafe-eval --workdir DIR [--episodes N] [--deterministic] [--seed S] [--budget B]``
(or ``python -m jaxsafe.eval``).

Evaluates the newest checkpoint of a training run that restores (a newer, damaged one is named
and skipped): every seed runs N complete episodes from fresh resets. Prints a table, writes
``DIR/eval.json`` and the environment's pictures under ``DIR/eval/`` (see
:func:`jaxsafe.evaluation.evaluate_run`). A ``flip`` family instead evaluates every member on N
episodes, solves the LP and measures its mixture in both execution modes (N episodes each),
prints predicted vs measured return, cost and violation probability with 95% intervals, and
writes ``DIR/flip.json``, ``flip.md`` and ``flip.png`` (:mod:`jaxsafe.flip_report`).
Failures print one line and exit with the status of
:mod:`jaxsafe.cli_errors`: 2 for a bad flag or a missing run, checkpoint or work directory, 4
when the disk refuses, 130 on Ctrl-C. Compiled programs are kept in the persistent compilation
cache (:mod:`jaxsafe.compilation_cache`), as ``jaxsafe-run`` does.
"""

from __future__ import annotations

import sys

from jaxsafe import cpu_compilation

# First: importing gymnax (below) starts JAX's backends, and XLA reads its flags then.
cpu_compilation.configure()

from absl import app, flags

from jaxsafe import compilation_cache
from jaxsafe.cli_errors import exit_on_error, parse_flags
from jaxsafe.config import validate
from jaxsafe.evaluation import evaluate_run, format_table
from jaxsafe.flip_report import evaluate_family, format_report, write_report
from jaxsafe.workdir import load_run, read_config

_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of a training run.")
_EPISODES = flags.DEFINE_integer("episodes", 100, "Complete episodes per seed.", lower_bound=1)
_DETERMINISTIC = flags.DEFINE_bool(
    "deterministic", False, "Act with the policy's mode instead of sampling."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the evaluation's random key.")
_COMPILATION_CACHE = flags.DEFINE_string("compilation_cache", None, compilation_cache.FLAG_HELP)
_BUDGET = flags.DEFINE_float(
    "budget",
    None,
    "flip runs only: the LP's budget (d, or α with algo.budget_coordinate=violation) instead "
    "of the run's algo.budget.",
)
flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
    del argv  # parse_flags refuses positional arguments
    with exit_on_error():
        compilation_cache.configure(_COMPILATION_CACHE.value)
        if read_config(_WORKDIR.value).algo.name == "flip":
            _evaluate_family()
            return
        evaluation = evaluate_run(
            _WORKDIR.value, _EPISODES.value, _DETERMINISTIC.value, _SEED.value
        )
    for update, reason in evaluation.skipped:
        print(f"warning: skipped the checkpoint after update {update}: {reason}", file=sys.stderr)
    print(format_table(evaluation.report, _WORKDIR.value))
    for path in evaluation.files:
        print(f"wrote {path}")


def _evaluate_family() -> None:
    """A ``flip`` run: every member, the LP's mixture in both modes, ``flip.{json,md,png}``."""
    run = load_run(_WORKDIR.value)
    if _BUDGET.value is not None:
        run.config.algo.budget = _BUDGET.value
        validate(run.config)
    for update, reason in run.skipped:
        print(f"warning: skipped the checkpoint after update {update}: {reason}", file=sys.stderr)
    report = evaluate_family(run, _EPISODES.value, _SEED.value, _DETERMINISTIC.value)
    print(format_report(report))
    title = f"{run.config.env.name}, {run.config.algo.base}, update {run.update}"
    for path in write_report(report, _WORKDIR.value, title):
        print(f"wrote {path}")


def cli() -> None:
    """The ``jaxsafe-eval`` console script."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    cli()
