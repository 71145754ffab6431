"""``python -m jaxsafe.eval --workdir DIR [--episodes N] [--deterministic] [--seed S]``.

Evaluates the newest checkpoint of a training run that restores (a newer, damaged one is named
and skipped): every seed runs N complete episodes from fresh resets. Prints a table, writes
``DIR/eval.json`` and the environment's pictures under ``DIR/eval/`` (see
:func:`jaxsafe.evaluation.evaluate_run`). A missing work directory or checkpoint exits with
status 2 and names it.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from jaxsafe.evaluation import evaluate_run, format_table
from jaxsafe.workdir import RunNotFoundError, WorkdirError

_WORKDIR = flags.DEFINE_string("workdir", None, "Work directory of a training run.")
_EPISODES = flags.DEFINE_integer("episodes", 100, "Complete episodes per seed.", lower_bound=1)
_DETERMINISTIC = flags.DEFINE_bool(
    "deterministic", False, "Act with the policy's mode instead of sampling."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the evaluation's random key.")
flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every restore at INFO
    try:
        evaluation = evaluate_run(
            _WORKDIR.value, _EPISODES.value, _DETERMINISTIC.value, _SEED.value
        )
    except (RunNotFoundError, WorkdirError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for update, reason in evaluation.skipped:
        print(f"warning: skipped the checkpoint after update {update}: {reason}", file=sys.stderr)
    print(format_table(evaluation.report, _WORKDIR.value))
    for path in evaluation.files:
        print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
