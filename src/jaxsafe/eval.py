"""``jaxsafe-eval --workdir DIR [--episodes N] [--deterministic] [--seed S]``
(or ``python -m jaxsafe.eval``).

Evaluates the latest checkpoint of a training run: every seed runs N complete episodes from
fresh resets. Prints a table, writes ``DIR/eval.json`` and the environment's pictures under
``DIR/eval/`` (see :func:`jaxsafe.evaluation.evaluate_run`). A missing work directory or
checkpoint exits with status 2 and names it.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from jaxsafe.evaluation import evaluate_run, format_table
from jaxsafe.workdir import RunNotFoundError

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
    except RunNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(format_table(evaluation.report, _WORKDIR.value))
    for path in evaluation.files:
        print(f"wrote {path}")


def cli() -> None:
    """The ``jaxsafe-eval`` console script."""
    app.run(main)


if __name__ == "__main__":
    cli()
