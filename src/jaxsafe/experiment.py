"""A training run on the host: jitted chunks of updates, then logging and checkpoints.

Each chunk is one call of up to ``log.updates_per_chunk`` updates for every seed; every chunk,
the shorter last one too, runs the same compiled program (of the same ``init``/``update`` as the
fused :func:`jaxsafe.train.make_train`, so both give identical results). Between chunks the host
writes ``metrics.jsonl`` (one row per update per seed), optional TensorBoard events and the
progress line, and saves orbax checkpoints of the whole state. Running again on the same work
directory resumes from the latest checkpoint that restores, up to a possibly larger
``total_timesteps`` (the rules: :mod:`jaxsafe.resume`). A non-finite metric stops the run,
naming the update, and keeps the last good state as the latest checkpoint; Ctrl-C saves the
state reached and stops with :class:`RunInterrupted`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np

from jaxsafe import plotting
from jaxsafe.algorithms import ALGORITHMS, Algorithm
from jaxsafe.checkpointing import Checkpointer
from jaxsafe.config import validate
from jaxsafe.progress import Progress
from jaxsafe.resume import open_workdir
from jaxsafe.sharding import seed_sharding, shard_seeds
from jaxsafe.train import make_algorithm, num_updates, run_some_updates
from jaxsafe.workdir import METRICS_FILE, seed_keys


class TrainingDiverged(RuntimeError):
    """A metric became NaN or infinite; the message names the update, seed and metric."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run; the message says where a rerun of the command resumes."""


def run_experiment(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    algorithm: Algorithm | None = None,
    report: Callable[[str], None] = print,
    allow_inexact_resume: bool = False,
) -> Any:
    """Trains (or resumes) the run of ``config`` in ``workdir``; returns the final state.

    The config, the environment and the algorithm are built and the work directory checked
    before anything is written (:func:`jaxsafe.resume.open_workdir` states the resume rules).

    Args:
        config: a validated-on-entry run config (:mod:`jaxsafe.config`).
        workdir: the run's directory; created if missing, resumed if it holds checkpoints.
        algorithm: the algorithm to train; built from ``config`` when ``None``.
        report: where progress lines and the final summary go.
        allow_inexact_resume: resume even where the result cannot equal an uninterrupted run
            (``algo.anneal_lr`` with a new ``total_timesteps``), with a warning.

    Raises:
        ConfigError: for an invalid config, or one that cannot continue the run being resumed.
        WorkdirError: ``workdir`` is a file, or none of its checkpoints restores.
        TrainingDiverged: when a metric becomes non-finite.
        RunInterrupted: on Ctrl-C (a ``KeyboardInterrupt``), once the state reached is saved.
        OSError: the disk refused a write (read-only, full).
    """
    validate(config)
    algorithm = algorithm or make_algorithm(config)
    total = num_updates(config, algorithm)
    sharding = seed_sharding(config.num_seeds)
    workdir = Path(workdir)
    state, done, checkpointer = open_workdir(
        workdir, config, algorithm, allow_inexact_resume, report
    )
    progress = Progress(
        total,
        algorithm.steps_per_update,
        config.num_seeds * algorithm.members,
        report if config.log.progress else _silent,
    )
    progress.compiling(f"{config.algo.name} on {config.env.name}", config.log.updates_per_chunk)
    if state is None:
        init = jax.jit(jax.vmap(algorithm.init, in_axes=(0, None)), out_shardings=sharding)
        state = init(seed_keys(config), algorithm.hyperparams)
    reached = _Reached(shard_seeds(state, sharding), done)

    capacity = min(config.log.updates_per_chunk, total)
    chunk = functools.partial(_run_chunk, algorithm, capacity=capacity)
    logger = _MetricsLogger(workdir, config, algorithm.steps_per_update)
    saved, saving, chunks = done, None, 0
    try:
        while reached.update < total:
            done = reached.update
            count = min(config.log.updates_per_chunk, total - done)
            new_state, metrics = chunk(reached.state, np.int32(count))
            metrics = {  # {name: [seeds, count]}
                name: values[:, :count] for name, values in jax.device_get(metrics).items()
            }
            problem = _first_non_finite(metrics)
            if problem is not None:
                if saved != done:
                    checkpointer.save(done, reached.state)
                index, seed, name = problem
                kept = (
                    f"the last good state is the checkpoint after update {done}"
                    if done
                    else "no update finished before it, so nothing was saved and the same "
                    "--workdir may be reused"
                )
                raise TrainingDiverged(
                    f"{name} is not finite at update {done + index + 1} (seed {seed}); {kept}"
                )
            logger.write(done, metrics)
            reached, chunks = _Reached(new_state, done + count), chunks + 1
            if chunks % config.checkpoint.every_chunks == 0 or reached.update == total:
                saving = reached.update
                checkpointer.save(saving, reached.state)
                saved, saving = saving, None
            progress.update(reached.update, metrics)
    except KeyboardInterrupt:
        raise RunInterrupted(_interrupted(checkpointer, reached, saved, saving)) from None
    finally:
        checkpointer.close()
        logger.close()
    _finish(workdir, config, algorithm, report)
    return reached.state


class _Reached(NamedTuple):
    """The state after ``update`` updates, assigned as one so that Ctrl-C never splits them."""

    state: Any
    update: int


def _interrupted(
    checkpointer: Checkpointer, reached: _Reached, saved: int, saving: int | None
) -> str:
    """Saves the state reached, unless Ctrl-C came during a save; the line for the user."""
    if saving is not None:  # that save may or may not have finished: keep what is on disk
        checkpointer.close()
        saved = saving if (checkpointer.directory / str(saving)).is_dir() else saved
    elif saved != reached.update:
        checkpointer.save(reached.update, reached.state)
        saved = reached.update
    if saved == 0:
        return "interrupted before the first checkpoint; run the same command to start again"
    return f"interrupted after update {saved}; run the same command to resume"


def _silent(_line: str) -> None:
    pass


@functools.partial(jax.jit, static_argnums=0, static_argnames="capacity")
def _run_chunk(algorithm: Algorithm, state: Any, count: jax.Array, capacity: int):
    """Every seed's next ``count`` updates: one program for every chunk of the run."""
    return jax.vmap(lambda state: run_some_updates(algorithm, state, count, capacity))(state)


def _first_non_finite(metrics: dict[str, np.ndarray]) -> tuple[int, int, str] | None:
    """``(update index, seed, metric)`` of the earliest non-finite value, or ``None``."""
    found = None
    for name, values in sorted(metrics.items()):
        positions = np.argwhere(~np.isfinite(values))  # rows of (seed, update index[, member])
        if len(positions):
            seed, index = positions[positions[:, 1].argmin()][:2]
            if found is None or index < found[0]:
                found = (int(index), int(seed), name)
    return found


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
        """Rows of ``metrics`` ``{name: [seeds, count]}``, or ``[seeds, count, members]`` for a
        family (:attr:`Algorithm.members`), whose rows also carry ``member``."""
        seeds, count, *family = next(iter(metrics.values())).shape
        members = [(member, {"member": member}) for member in range(family[0])] if family else []
        for index in range(count):
            update = done + index + 1
            env_steps = update * self._steps_per_update
            for seed in range(seeds):
                for member, label in members or [((), {})]:
                    values = {
                        name: float(array[seed, index][member]) for name, array in metrics.items()
                    }
                    row = {"update": update, "seed": seed, **label, "env_steps": env_steps}
                    self._file.write(json.dumps({**row, **values}) + "\n")
                    tag = f"member_{member}/" if label else ""
                    for name, value in values.items() if self._writers else ():
                        self._writers[seed].add_scalar(tag + name, value, env_steps)
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        for writer in self._writers:
            writer.close()


def _finish(workdir: Path, config: ml_collections.ConfigDict, algorithm: Algorithm, report) -> None:
    """Plots per seed with a mean ± std band, and the summary table; for a family, the plots
    of each member under ``plots/member_<i>/`` and one table per member."""
    members = range(algorithm.members) if algorithm.member_policy is not None else [None]
    data = {member: plotting.load_metrics(workdir, member=member) for member in members}
    counts = [seed.get("episode/count") for run in data.values() for seed in run.values()]
    if not any(count is not None and np.nansum(count) > 0 for count in counts):
        report("no episode finished during training: no plots or summary")
        return
    references = plot_references(config)
    for member in members:
        lines = {metric: value for metric, (value, _) in references.items()}
        labels = {metric: label for metric, (_, label) in references.items()}
        output_dir = None
        if member is not None:
            limit = float(config.algo.cost_limits[member])
            lines["episode/cost"], labels["episode/cost"] = limit, "cost limit d"
            output_dir = workdir / "plots" / f"member_{member}"
            report(f"member {member} (cost limit {limit:g}):")
        paths = plotting.plot_run(
            workdir,
            output_dir=output_dir,
            reference_lines=lines,
            reference_labels=labels,
            member=member,
        )
        for path in paths:
            report(f"wrote {path}")
        report(plotting.summary_table(workdir, member=member))


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
