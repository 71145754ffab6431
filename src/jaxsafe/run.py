"""``python -m jaxsafe.run --config experiments/X.py --workdir DIR [--config.a.b=v ...]``.

Trains every seed of the config as one program, writing into ``DIR``: ``config.json``,
``metrics.jsonl``, checkpoints, optional TensorBoard events, and at the end plots and a
summary table. Running the same command again resumes from the latest checkpoint (the rules:
:mod:`jaxsafe.resume`). An invalid config or work directory exits with status 2 and a message
naming the field; a diverged run (NaN) exits with status 3 and names the update.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jaxsafe.config import ConfigError, renamed_override
from jaxsafe.experiment import TrainingDiverged, run_experiment
from jaxsafe.workdir import WorkdirError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to an experiment file with get_config().", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run (resumed if it exists).")
_ALLOW_INEXACT_RESUME = flags.DEFINE_bool(
    "allow_inexact_resume",
    False,
    "Resume even where the result cannot equal an uninterrupted run (algo.anneal_lr with a "
    "new total_timesteps changes the learning-rate schedule); prints a warning.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    try:
        run_experiment(
            _CONFIG.value, _WORKDIR.value, allow_inexact_resume=_ALLOW_INEXACT_RESUME.value
        )
    except (ConfigError, WorkdirError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except TrainingDiverged as error:
        print(f"error: training diverged: {error}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    message = renamed_override(sys.argv[1:])
    if message is not None:
        print(message, file=sys.stderr)
        sys.exit(2)
    app.run(main)
