"""Checkpoints of the whole training state with orbax.

The state (parameters, optimiser states, multipliers, normaliser, environments, keys) is one
pytree with a leading seed axis; it is saved under ``<workdir>/checkpoints/<update>`` and
restored into the structure, dtypes and shardings of an abstract target, so a resumed run
continues bit for bit.

orbax cannot save arrays of size zero, which a state may hold (PointGoal below level 2 has no
vases: its ``vases`` leaf is ``[S, 0, 2]``). Each such leaf is saved as a one-element zero
array in its place and rebuilt, empty, from the target's shape on restore.

Damage is reported, never repaired by deleting: a checkpoint that does not restore raises
:class:`UnreadableCheckpoint` with the reason, :func:`set_aside` renames it to
``<update>.damaged`` (which orbax ignores, so the update can be saved again), and
:func:`unfinished_saves` lists the ``*.orbax-checkpoint-tmp*`` folders an interrupted save
left behind. A disk error while saving is raised as the :class:`OSError` it is (tensorstore
reports it as a ``ValueError``).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

_ITEM = "default"
"""The folder orbax writes a single-item checkpoint's arrays into."""
_UNFINISHED = ".orbax-checkpoint-tmp"
_OS_ERROR_CODE = re.compile(r"os_error_code='(\d+)'")


class UnreadableCheckpoint(Exception):
    """A saved checkpoint does not restore; the message says why."""


def _is_empty(leaf: Any) -> bool:
    return 0 in getattr(leaf, "shape", ())


def _placeholder(leaf: Any) -> Any:
    """A size-zero leaf's stand-in: one zero of its dtype (abstract for an abstract leaf)."""
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct((1,), leaf.dtype)
    return jnp.zeros((1,), leaf.dtype)


class Checkpointer:
    """Saves and restores training states, indexed by the number of updates done.

    Args:
        directory: where checkpoints live.
        max_to_keep: how many of the latest checkpoints to keep.
        create: create ``directory`` if it is missing (a reader that only restores passes
            ``False``, and writes nothing as long as it does not save).
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 3, create: bool = True):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def updates(self) -> list[int]:
        """The update numbers of every saved checkpoint, newest first."""
        return sorted(self._manager.all_steps(), reverse=True)

    def save(self, update: int, state: Any) -> None:
        """Saves ``state`` as the checkpoint after ``update`` updates (blocks until written).

        Raises:
            OSError: the disk refused the write (full, read-only, ...).
        """
        state = jax.tree.map(lambda x: _placeholder(x) if _is_empty(x) else x, state)
        try:
            saved = self._manager.save(update, args=ocp.args.StandardSave(state))
            self._manager.wait_until_finished()
        except ValueError as error:
            code = _OS_ERROR_CODE.search(str(error))
            if code is None:
                raise
            number = int(code.group(1))
            raise OSError(number, os.strerror(number), str(self.directory)) from error
        if not saved:
            raise RuntimeError(f"orbax did not save update {update} into {self.directory}")

    def restore(self, update: int, target: Any) -> Any:
        """The state saved after ``update`` updates, shaped and sharded like ``target``.

        Args:
            update: a saved update number (see :meth:`updates`).
            target: a pytree of arrays or ``jax.ShapeDtypeStruct`` with the state's structure.

        Raises:
            UnreadableCheckpoint: the checkpoint is damaged (a missing folder, a truncated
                file, ...); the message gives the reason.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        stored = jax.tree.map(lambda x: _placeholder(x) if _is_empty(x) else x, abstract)
        item = self.directory / str(update) / _ITEM
        if not item.is_dir():
            raise UnreadableCheckpoint(f"its folder {item} is missing")
        try:
            state = self._manager.restore(update, args=ocp.args.StandardRestore(stored))
        except Exception as error:  # orbax and tensorstore raise many kinds
            _drop_closed_loop_reports()
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise UnreadableCheckpoint(f"{type(error).__name__}: {reason[:300]}") from error

        def rebuild(leaf, restored):
            if not _is_empty(leaf):
                return restored
            empty = jnp.zeros(leaf.shape, leaf.dtype)
            return empty if leaf.sharding is None else jax.device_put(empty, leaf.sharding)

        return jax.tree.map(rebuild, abstract, state)

    def close(self) -> None:
        self._manager.close()


def _drop_closed_loop_reports() -> None:
    """Silences the echo of a failed restore: tensorstore completes the other reads after
    orbax closed its event loop and reports each as an unraisable "Event loop is closed"
    (one traceback per array). Other unraisable exceptions still reach the previous hook."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_closed_loop_reports", False):
        return

    def hook(unraisable: Any) -> None:
        error = unraisable.exc_value
        if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed"):
            previous(unraisable)

    hook.drops_closed_loop_reports = True
    sys.unraisablehook = hook


def unfinished_saves(directory: str | Path) -> list[Path]:
    """The folders an interrupted save left in ``directory``: ``*.orbax-checkpoint-tmp*``."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if _UNFINISHED in path.name)


def set_aside(directory: str | Path, update: int) -> Path:
    """Renames checkpoint ``update`` to ``<update>.damaged`` (``.damaged-2``, ... if taken) so
    that orbax no longer sees it and the update can be saved again; returns the new path."""
    source = Path(directory) / str(update)
    target, suffix = source.with_name(f"{update}.damaged"), 1
    while target.exists():
        suffix += 1
        target = source.with_name(f"{update}.damaged-{suffix}")
    source.rename(target)
    return target
