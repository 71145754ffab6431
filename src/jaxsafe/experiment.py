"""A training run on the host: jitted chunks of updates, then logging and checkpoints.

Each chunk is one compiled call of ``log.updates_per_chunk`` updates for every seed (the same
``init``/``update`` as the fused :func:`jaxsafe.train.make_train`, so both give identical
results). Between chunks the host writes ``metrics.jsonl`` (one row per update per seed),
optional TensorBoard events and the progress line, and saves orbax checkpoints of the whole
state. Running again on the same work directory resumes from the latest checkpoint, up to a
possibly larger ``total_timesteps``. A non-finite metric stops the run, naming the update, and
keeps the last good state as the latest checkpoint.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxsafe import plotting
from jaxsafe.algorithms import ALGORITHMS, Algorithm
from jaxsafe.checkpointing import Checkpointer
from jaxsafe.config import ConfigError, validate
from jaxsafe.progress import Progress
from jaxsafe.sharding import seed_sharding, shard_seeds
from jaxsafe.train import make_algorithm, num_updates, run_updates
from jaxsafe.workdir import CHECKPOINT_DIR, CONFIG_FILE, METRICS_FILE, restore_latest, seed_keys

_RESUMABLE_CHANGES = ("total_timesteps", "log", "checkpoint")
"""Top-level config entries that may differ when a run is resumed."""


class TrainingDiverged(RuntimeError):
    """A metric became NaN or infinite; the message names the update, seed and metric."""


def run_experiment(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    algorithm: Algorithm | None = None,
    report: Callable[[str], None] = print,
) -> Any:
    """Trains (or resumes) the run of ``config`` in ``workdir``; returns the final state.

    Args:
        config: a validated-on-entry run config (:mod:`jaxsafe.config`).
        workdir: the run's directory; created if missing, resumed if it holds checkpoints.
        algorithm: the algorithm to train; built from ``config`` when ``None``.
        report: where progress lines and the final summary go.

    Raises:
        ConfigError: for an invalid config, or one that differs from the run being resumed.
        TrainingDiverged: when a metric becomes non-finite.
    """
    validate(config)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _write_config(workdir, config)
    algorithm = algorithm or make_algorithm(config)
    total = num_updates(config, algorithm)
    sharding = seed_sharding(config.num_seeds)
    progress = Progress(
        total,
        algorithm.steps_per_update,
        config.num_seeds,
        report if config.log.progress else _silent,
    )
    progress.compiling(f"{config.algo.name} on {config.env.name}", config.log.updates_per_chunk)

    checkpointer = Checkpointer(workdir / CHECKPOINT_DIR, config.checkpoint.max_to_keep)
    restored = restore_latest(checkpointer, algorithm, config)
    if restored is not None:
        state, done = restored
        _truncate_metrics(workdir / METRICS_FILE, done)
        report(f"resuming {workdir} after update {done} of {total}")
    else:
        init = jax.jit(jax.vmap(algorithm.init, in_axes=(0, None)), out_shardings=sharding)
        state, done = init(seed_keys(config), algorithm.hyperparams), 0
    state = shard_seeds(state, sharding)

    chunk = functools.partial(_run_chunk, algorithm)
    logger = _MetricsLogger(workdir, config, algorithm.steps_per_update)
    saved, chunks = done, 0
    while done < total:
        count = min(config.log.updates_per_chunk, total - done)
        new_state, metrics = chunk(state, count)
        metrics = jax.device_get(metrics)  # {name: [seeds, count]}
        problem = _first_non_finite(metrics)
        if problem is not None:
            if saved != done:
                checkpointer.save(done, state)
            index, seed, name = problem
            checkpointer.close()
            raise TrainingDiverged(
                f"{name} is not finite at update {done + index + 1} (seed {seed}); "
                f"the last good state is the checkpoint after update {done}"
            )
        logger.write(done, metrics)
        state, done, chunks = new_state, done + count, chunks + 1
        if chunks % config.checkpoint.every_chunks == 0 or done == total:
            checkpointer.save(done, state)
            saved = done
        progress.update(done, metrics)
    checkpointer.close()
    logger.close()
    _finish(workdir, config, report)
    return state


def _silent(_line: str) -> None:
    pass


@functools.partial(jax.jit, static_argnums=(0, 2))
def _run_chunk(algorithm: Algorithm, state: Any, count: int):
    return jax.vmap(lambda state: run_updates(algorithm, state, count))(state)


def _write_config(workdir: Path, config: ml_collections.ConfigDict) -> None:
    """Writes ``config.json``; on resume, refuses a config that changes the run itself."""
    new = json.loads(config.to_json_best_effort())
    path = workdir / CONFIG_FILE
    if path.exists():
        old = json.loads(path.read_text())
        changed = sorted(
            key
            for key in set(old) | set(new)
            if key not in _RESUMABLE_CHANGES and old.get(key) != new.get(key)
        )
        if changed:
            raise ConfigError(
                f"config.{changed[0]} differs from the run in {workdir} "
                f"(only {', '.join(_RESUMABLE_CHANGES)} may change on resume); "
                "use a new --workdir"
            )
    path.write_text(json.dumps(new, indent=2, sort_keys=True))


def _first_non_finite(metrics: dict[str, np.ndarray]) -> tuple[int, int, str] | None:
    """``(update index, seed, metric)`` of the earliest non-finite value, or ``None``."""
    found = None
    for name, values in sorted(metrics.items()):
        positions = np.argwhere(~np.isfinite(values))  # rows of (seed, update index)
        if len(positions):
            seed, index = positions[positions[:, 1].argmin()]
            if found is None or index < found[0]:
                found = (int(index), int(seed), name)
    return found


def _truncate_metrics(path: Path, done: int) -> None:
    """Drops rows written after the checkpoint being resumed from (a run killed mid-way)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if _row_update(line) <= done]
    path.write_text("".join(f"{line}\n" for line in kept))


def _row_update(line: str) -> float:
    try:
        return json.loads(line)["update"]
    except (json.JSONDecodeError, KeyError):
        return math.inf


class _MetricsLogger:
    """Appends one JSON row per update per seed; mirrors them to TensorBoard when asked."""

    def __init__(self, workdir: Path, config: ml_collections.ConfigDict, steps_per_update: int):
        self._file = (workdir / METRICS_FILE).open("a")
        self._steps_per_update = steps_per_update
        self._writers = []
        if config.log.tensorboard:
            from tensorboardX import SummaryWriter

            self._writers = [
                SummaryWriter(str(workdir / "tensorboard" / f"seed_{seed}"))
                for seed in range(config.num_seeds)
            ]

    def write(self, done: int, metrics: dict[str, np.ndarray]) -> None:
        seeds, count = next(iter(metrics.values())).shape
        for index in range(count):
            update = done + index + 1
            env_steps = update * self._steps_per_update
            for seed in range(seeds):
                values = {name: float(array[seed, index]) for name, array in metrics.items()}
                row = {"update": update, "seed": seed, "env_steps": env_steps, **values}
                self._file.write(json.dumps(row) + "\n")
                for name, value in values.items() if self._writers else ():
                    self._writers[seed].add_scalar(name, value, env_steps)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        for writer in self._writers:
            writer.close()


def _finish(workdir: Path, config: ml_collections.ConfigDict, report) -> None:
    """Plots per seed with a mean ± std band, and the summary table."""
    counts = [seed.get("episode/count") for seed in plotting.load_metrics(workdir).values()]
    if not any(count is not None and np.nansum(count) > 0 for count in counts):
        report("no episode finished during training: no plots or summary")
        return
    references = plot_references(config)
    lines = {metric: value for metric, (value, _) in references.items()}
    labels = {metric: label for metric, (_, label) in references.items()}
    for path in plotting.plot_run(workdir, reference_lines=lines, reference_labels=labels):
        report(f"wrote {path}")
    report(plotting.summary_table(workdir))


def plot_references(config: ml_collections.ConfigDict) -> dict[str, tuple[float, str]]:
    """The levels a run's plots draw, ``{metric: (value, label)}``: the cost limit d on
    ``episode/cost``, and for an algorithm with a VaR level (``varcpo``, ``cvar_ppo``) its α on
    ``constraint/var_exceedance``, the estimate of P(C ≥ d) that α bounds."""
    references = {}
    limit = config.algo.get("cost_limit")
    if limit is not None:
        references["episode/cost"] = (float(limit), "cost limit d")
    level_field = getattr(ALGORITHMS[config.algo.name], "VAR_LEVEL_FIELD", None)
    if level_field is not None:
        references["constraint/var_exceedance"] = (float(config.algo[level_field]), "α")
    return references
