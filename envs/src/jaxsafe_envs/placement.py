"""A jit-friendly version of Safety Gym's layout sampler: objects with keep-out radii, no overlap.

Safety Gym places objects one after the other; each draws positions uniformly in the placement
extents shrunk by its keep-out radius ``k``, and a draw is accepted when it lies at least
``k + k_j`` from every object ``j`` already placed. Its Python loop retries until it succeeds.

Here every object draws ``num_tries`` candidates at once and takes the first acceptable one, so
the work is fixed and the whole layout is one ``lax.scan``. Fallback: when none of
an object's candidates is acceptable, it takes the candidate with the largest clearance
``min_j (|q − p_j| − k − k_j)`` (the least overlap) and the layout's ``ok`` flag is false. With
the default extents and counts and 32 tries this was never seen in 10,000 layouts per level
(tested at levels 1 and 2); a crowded custom layout may overlap instead of raising.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def place_one(
    key: jax.Array,
    extents: jax.Array,
    keepout: jax.Array,
    others: jax.Array,
    other_keepouts: jax.Array,
    num_tries: int,
    others_mask: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``(position [2], ok)`` of one object with keep-out ``keepout`` among ``others`` [N, 2]
    with keep-outs ``other_keepouts`` [N] (``others_mask`` [N] ignores the false entries), drawn
    in ``extents`` (x_min, y_min, x_max, y_max) shrunk by ``keepout``."""
    low = extents[:2] + keepout
    high = jnp.maximum(extents[2:] - keepout, low)
    candidates = jax.random.uniform(key, (num_tries, 2), minval=low, maxval=high)
    if others.shape[0] == 0:
        return candidates[0], jnp.bool_(True)
    distance = jnp.linalg.norm(candidates[:, None, :] - others[None, :, :], axis=-1)
    clearance = distance - keepout - other_keepouts[None, :]
    if others_mask is not None:
        clearance = jnp.where(others_mask[None, :], clearance, jnp.inf)
    clearance = jnp.min(clearance, axis=1)  # [T]
    acceptable = clearance >= 0.0
    ok = jnp.any(acceptable)
    choice = jnp.where(ok, jnp.argmax(acceptable), jnp.argmax(clearance))
    return candidates[choice], ok


def place_all(
    key: jax.Array, extents: jax.Array, keepouts: jax.Array, num_tries: int
) -> tuple[jax.Array, jax.Array]:
    """``(positions [M, 2], ok)``: objects with keep-outs ``keepouts`` [M] placed in order, one
    ``lax.scan`` step each (an unrolled loop runs no faster and compiles ~5x slower)."""
    count = keepouts.shape[0]

    def place(carry, inputs):
        positions, ok = carry
        index, key = inputs
        placed = jnp.arange(count) < index
        position, ok_here = place_one(
            key, extents, keepouts[index], positions, keepouts, num_tries, placed
        )
        return (positions.at[index].set(position), ok & ok_here), None

    init = (jnp.zeros((count, 2), jnp.float32), jnp.bool_(True))
    inputs = (jnp.arange(count), jax.random.split(key, count))
    (positions, ok), _ = jax.lax.scan(place, init, inputs)
    return positions, ok
