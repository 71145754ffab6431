"""``jaxsafe-run --config experiments/X.py --workdir DIR [--config.a.b=v ...]``
(or ``python -m jaxsafe.run``).

Trains every seed of the config as one program, writing into ``DIR``: ``config.json``,
``metrics.jsonl``, checkpoints, optional TensorBoard events, and at the end plots and a
summary table. Running the same command again resumes from the latest checkpoint (the rules:
:mod:`jaxsafe.resume`). Failures print one line and exit with the status of
:mod:`jaxsafe.cli_errors`: 2 for a bad command, config or work directory, 3 for a diverged run
(NaN), 4 when the disk refuses, 130 on Ctrl-C.

``--config.env.kwargs.<option>=value`` sets any option of the environment: the config is not
locked, so new fields are accepted here and :func:`jaxsafe.config.validate` then rejects any
that is not in the schema, with the closest valid name.

Compiled programs are kept in a persistent cache (:mod:`jaxsafe.compilation_cache`,
``~/.cache/jaxsafe/xla`` unless ``--compilation_cache DIR`` or ``--compilation_cache off``), so a
second run of the same config starts without compiling.

``--list`` prints the algorithms, environments and shipped experiment configs, one line each;
``--dry-run`` prints the resolved config and its batch arithmetic without compiling or writing
anything (``--workdir`` is then not needed).
"""

from __future__ import annotations

from jaxsafe import cpu_compilation

# First: importing gymnax (below) starts JAX's backends, and XLA reads its flags then.
cpu_compilation.configure()

from absl import app, flags
from ml_collections import config_flags

from jaxsafe import catalog, compilation_cache, dry_run
from jaxsafe.cli_errors import exit_on_error, parse_flags
from jaxsafe.config import validate
from jaxsafe.experiment import run_experiment

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Path to an experiment file with get_config().",
    lock_config=False,
    accept_new_attributes=True,
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run (resumed if it exists).")
_ALLOW_INEXACT_RESUME = flags.DEFINE_bool(
    "allow_inexact_resume",
    False,
    "Resume even where the result cannot equal an uninterrupted run (algo.anneal_lr with a "
    "new total_timesteps changes the learning-rate schedule); prints a warning.",
)
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
_COMPILATION_CACHE = flags.DEFINE_string("compilation_cache", None, compilation_cache.FLAG_HELP)


def main(argv: list[str]) -> None:
    del argv  # parse_flags refuses positional arguments
    with exit_on_error():
        if _LIST.value:
            print(catalog.listing())
            return
        given = {"--config": _CONFIG.value, "--workdir": _WORKDIR.value}
        needed = ["--config"] if _DRY_RUN.value else ["--config", "--workdir"]
        missing = [flag for flag in needed if given[flag] is None]
        if missing:
            raise app.UsageError(f"missing {' and '.join(missing)} (see --help, or --list)")
        if _DRY_RUN.value:
            validate(_CONFIG.value)
            print(dry_run.describe(_CONFIG.value))
            return
        compilation_cache.configure(_COMPILATION_CACHE.value)
        run_experiment(
            _CONFIG.value, _WORKDIR.value, allow_inexact_resume=_ALLOW_INEXACT_RESUME.value
        )


def cli() -> None:
    """The ``jaxsafe-run`` console script."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    cli()
