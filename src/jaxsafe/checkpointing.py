"""Checkpoints of the whole training state with orbax.

The state (parameters, optimiser states, multipliers, normaliser, environments, keys) is one
pytree with a leading seed axis; it is saved under ``<workdir>/checkpoints/<update>`` and
restored into the structure, dtypes and shardings of an abstract target, so a resumed run
continues bit for bit.

orbax cannot save arrays of size zero, which a state may hold (PointGoal below level 2 has no
vases: its ``vases`` leaf is ``[S, 0, 2]``). Each such leaf is saved as a one-element zero
array in its place and rebuilt, empty, from the target's shape on restore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp


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
        directory: where checkpoints live (created if missing).
        max_to_keep: how many of the latest checkpoints to keep.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 3):
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(Path(directory).absolute(), options=options)

    def latest_update(self) -> int | None:
        """Updates done at the newest checkpoint, or ``None`` when there is none."""
        return self._manager.latest_step()

    def save(self, update: int, state: Any) -> None:
        """Saves ``state`` as the checkpoint after ``update`` updates (blocks until written)."""
        state = jax.tree.map(lambda x: _placeholder(x) if _is_empty(x) else x, state)
        self._manager.save(update, args=ocp.args.StandardSave(state))
        self._manager.wait_until_finished()

    def restore(self, update: int, target: Any) -> Any:
        """The state saved after ``update`` updates, shaped and sharded like ``target``.

        Args:
            update: a saved update number (see :meth:`latest_update`).
            target: a pytree of arrays or ``jax.ShapeDtypeStruct`` with the state's structure.
        """
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        stored = jax.tree.map(lambda x: _placeholder(x) if _is_empty(x) else x, abstract)
        state = self._manager.restore(update, args=ocp.args.StandardRestore(stored))

        def rebuild(leaf, restored):
            if not _is_empty(leaf):
                return restored
            empty = jnp.zeros(leaf.shape, leaf.dtype)
            return empty if leaf.sharding is None else jax.device_put(empty, leaf.sharding)

        return jax.tree.map(rebuild, abstract, state)

    def close(self) -> None:
        self._manager.close()
