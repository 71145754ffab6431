"""``jaxsafe-run --config experiments/X.py --workdir DIR [--config.a.b=v ...]``
(or ``python -m jaxsafe.run``).

Trains every seed of the config as one program, writing into ``DIR``: ``config.json``,
``metrics.jsonl``, checkpoints, optional TensorBoard events, and at the end plots and a
summary table. Running the same command again resumes from the latest checkpoint. An invalid
config exits with status 2 and a message naming the field; a diverged run (NaN) exits with
status 3 and names the update.

``--list`` prints the algorithms, environments and shipped experiment configs, one line each;
``--dry-run`` prints the resolved config and its batch arithmetic without compiling or writing
anything (``--workdir`` is then not needed).
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jaxsafe import catalog, dry_run
from jaxsafe.config import ConfigError, renamed_override, validate
from jaxsafe.experiment import TrainingDiverged, run_experiment

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to an experiment file with get_config().", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run (resumed if it exists).")
_LIST = flags.DEFINE_bool(
    "list", False, "Print the algorithms, environments and experiment configs, then exit."
)
_DRY_RUN = flags.DEFINE_bool(
    "dry_run",
    False,
    "Print the resolved config and its batch arithmetic (envs × steps = batch, minibatches, "
    "updates, env steps per seed, seeds), then exit without compiling or writing.",
)
flags.DEFINE_alias("dry-run", "dry_run")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _LIST.value:
        print(catalog.listing())
        return
    given = {"--config": _CONFIG.value, "--workdir": _WORKDIR.value}
    needed = ["--config"] if _DRY_RUN.value else ["--config", "--workdir"]
    missing = [flag for flag in needed if given[flag] is None]
    if missing:
        print(f"error: missing {' and '.join(missing)} (see --help, or --list)", file=sys.stderr)
        sys.exit(2)
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    try:
        if _DRY_RUN.value:
            validate(_CONFIG.value)
            print(dry_run.describe(_CONFIG.value))
            return
        run_experiment(_CONFIG.value, _WORKDIR.value)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except TrainingDiverged as error:
        print(f"error: training diverged: {error}", file=sys.stderr)
        sys.exit(3)


def cli() -> None:
    """The ``jaxsafe-run`` console script."""
    message = renamed_override(sys.argv[1:])
    if message is not None:
        print(message, file=sys.stderr)
        sys.exit(2)
    app.run(main)


if __name__ == "__main__":
    cli()
