"""Starting or continuing a run in its work directory, exactly or not at all.

:func:`open_workdir` checks everything it can before it writes anything, then puts the
directory in the state of the update it continues from. The rules (README "Resume"):

- A directory without a checkpoint starts afresh: its ``config.json`` is replaced and its
  ``metrics.jsonl`` emptied (a run killed, or diverged, before its first checkpoint).
- With checkpoints, only ``total_timesteps``, ``log.*`` and ``checkpoint.*`` may differ from
  ``config.json``; a refusal names the first differing field with both values.
- ``total_timesteps`` must cover the updates already done.
- With ``algo.anneal_lr`` the learning rate decays to zero over ``total_timesteps``, so a new
  total changes the schedule of the remaining updates: refused unless ``allow_inexact``, which
  continues with a warning that the result equals no uninterrupted run.
- The run continues from the newest checkpoint that restores; each newer one that does not is
  named with the reason and renamed ``<update>.damaged``, never deleted. Folders of an
  interrupted save are removed and named.
- ``metrics.jsonl`` is rewritten (atomically) to one row per (update, seed) up to that update.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import ml_collections

from jaxsafe.algorithms import Algorithm
from jaxsafe.checkpointing import Checkpointer, set_aside, unfinished_saves
from jaxsafe.config import ConfigError
from jaxsafe.train import num_updates
from jaxsafe.workdir import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    WorkdirError,
    restore_latest,
)

RESUMABLE_CHANGES = ("total_timesteps", "log", "checkpoint")
"""Top-level config entries that may differ when a run is resumed."""


class Start(NamedTuple):
    """Where a run starts: the restored state and its update, or ``(None, 0)`` for a new run."""

    state: Any  # the restored training state (leading axis [S] seeds), or None
    update: int  # updates already done
    checkpointer: Checkpointer  # open for saving into the work directory


def open_workdir(
    workdir: Path,
    config: ml_collections.ConfigDict,
    algorithm: Algorithm,
    allow_inexact: bool = False,
    report: Callable[[str], None] = print,
) -> Start:
    """Checks that ``config`` can start or exactly continue the run in ``workdir``, then
    prepares the directory (``config.json``, ``metrics.jsonl``, checkpoints) for it.

    Args:
        workdir: the run's directory; created if missing.
        config: the validated config of the run.
        algorithm: the algorithm built from ``config`` (the restore target).
        allow_inexact: continue even when the result cannot equal an uninterrupted run
            (``algo.anneal_lr`` with a new ``total_timesteps``), with a warning.
        report: where the resume line, skipped checkpoints and warnings go.

    Raises:
        ConfigError: ``config`` cannot continue the run (a changed field, too few steps, a
            changed learning-rate schedule); nothing is written.
        WorkdirError: ``workdir`` is a file, or it holds checkpoints of which none restores.
    """
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(f"work directory {workdir} is a file, not a directory")
    checkpoint_dir = workdir / CHECKPOINT_DIR
    state, done, damaged = None, 0, []
    if checkpoint_dir.is_dir():
        reader = Checkpointer(checkpoint_dir, create=False)
        try:
            previous = _previous_config(workdir) if reader.updates() else None
            if previous is not None:
                _check_same_run(previous, config, workdir)
            restored = restore_latest(reader, algorithm, config)
        finally:
            reader.close()
        if restored is not None:
            state, done, damaged = restored
            _check_continuation(previous, config, algorithm, done, allow_inexact, workdir, report)

    # Everything is checked: from here on the directory is written.
    workdir.mkdir(parents=True, exist_ok=True)
    for update, reason in damaged:
        moved = set_aside(checkpoint_dir, update)
        report(f"checkpoint after update {update} does not restore ({reason}); moved to {moved}")
    for path in unfinished_saves(checkpoint_dir):
        shutil.rmtree(path)
        report(f"removed {path}, left by an interrupted save")
    _write_atomically(
        workdir / CONFIG_FILE,
        json.dumps(json.loads(config.to_json_best_effort()), indent=2, sort_keys=True),
    )
    rewind_metrics(workdir / METRICS_FILE, done)
    if state is not None:
        report(f"resuming {workdir} after update {done} of {num_updates(config, algorithm)}")
    return Start(state, done, Checkpointer(checkpoint_dir, config.checkpoint.max_to_keep))


def _previous_config(workdir: Path) -> dict[str, Any] | None:
    path = workdir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise WorkdirError(f"{path} is not valid JSON ({error}); use a new --workdir") from None


def _check_same_run(previous: dict[str, Any], config: ml_collections.ConfigDict, workdir: Path):
    """Refuses a config that changes the run itself, naming the first differing field."""
    new = json.loads(config.to_json_best_effort())
    for key in sorted(set(previous) | set(new)):
        if key in RESUMABLE_CHANGES:
            continue
        differences = _differences(previous.get(key), new.get(key), f"config.{key}")
        if differences:
            field, old, value = differences[0]
            raise ConfigError(
                f"{field} = {value!r} differs from the run in {workdir}, which has {old!r} "
                f"(only {', '.join(RESUMABLE_CHANGES)} may change on resume); "
                "use a new --workdir"
            )


_MISSING = "<missing>"


def _differences(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    """``(field, old, new)`` for each leaf where two JSON values differ, in sorted order."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += _differences(old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}")
        return found
    return [] if old == new else [(path, old, new)]


def _check_continuation(
    previous: dict[str, Any] | None,
    config: ml_collections.ConfigDict,
    algorithm: Algorithm,
    done: int,
    allow_inexact: bool,
    workdir: Path,
    report: Callable[[str], None],
) -> None:
    """Refuses a ``total_timesteps`` the run cannot exactly continue to."""
    total = num_updates(config, algorithm)
    if total < done:
        raise ConfigError(
            f"config.total_timesteps = {config.total_timesteps} makes {total} updates, fewer "
            f"than the {done} already done in {workdir}; set at least "
            f"{done * algorithm.steps_per_update} or use a new --workdir"
        )
    old_total = None if previous is None else previous.get("total_timesteps")
    if old_total is None or not config.algo.get("anneal_lr", False):
        return
    old = old_total // algorithm.steps_per_update
    if old == total:
        return
    consequence = (
        f"algo.anneal_lr decays the learning rate over the run's {old} updates; with "
        f"total_timesteps = {config.total_timesteps} ({total} updates) the updates after {done} "
        "would follow another schedule and the result would equal no uninterrupted run"
    )
    if not allow_inexact:
        raise ConfigError(
            f"{consequence}; keep total_timesteps = {old_total}, use a new --workdir, or pass "
            "--allow_inexact_resume to continue anyway"
        )
    report(f"warning: {consequence}")


def rewind_metrics(path: Path, update: int) -> None:
    """Rewrites ``metrics.jsonl`` to one row per (update, seed[, member]) up to ``update``:
    later rows (logged after the last checkpoint) and unreadable ones go, and of repeated rows
    the last stays. The lines are kept verbatim; the file is replaced atomically."""
    if not path.exists():
        return
    rows: dict[tuple[int, int, int], str] = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            key = (int(row["update"]), int(row["seed"]), int(row.get("member", 0)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if key[0] <= update:
            rows[key] = line
    _write_atomically(path, "".join(f"{rows[key]}\n" for key in sorted(rows)))


def _write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` so that a crash leaves either the old or the new file."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
