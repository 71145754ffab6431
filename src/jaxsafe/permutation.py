"""The minibatch shuffle: ``jax.random.permutation``'s permutation, bit for bit, faster on a CPU.

``jax.random.permutation(key, n)`` shuffles ``arange(n)`` in R = ⌈3 ln n / ln(2³² − 1)⌉ rounds
(2 for n = 5,000), each a *stable* sort of the array by fresh random 32-bit keys
(``lax.sort_key_val``). On XLA's CPU backend a sort with two operands is about six times
slower than a sort of one array of 32-bit integers (0.75 against 0.13 ms for 5,000 elements),
and an update's 10 shuffles of 5,000 took 16.7 ms of a 68 ms PPO-Lagrangian update at the
PointCircle preset (a 2-core AMD EPYC); here they take 8.2 ms, and the golden runs are unchanged.

Each round here is the same stable sort, built from single-operand sorts. With
``start(k)`` = the number of keys smaller than ``k`` (a search in the sorted keys), element
``i`` of key ``k_i`` belongs at a sorted position in ``start(k_i) + [0, count(k_i))``, and a
stable sort orders equal keys by ``i``. So sorting the packed integers
``start(k_i) · 2^b + i``, with ``b = ⌈log₂ n⌉`` (at least 1) bits for an index, orders the
elements exactly as the stable sort by key does, ties included, and the low ``b`` bits of the
sorted integers are the elements' indices. ``start`` and ``i`` are both below ``2^b``, so the
packed integer fits in 32 bits when ``2b ≤ 32``, i.e. ``n ≤ 2¹⁶``; larger arrays use
``jax.random.permutation`` itself. The search is ``jnp.searchsorted``'s ``scan_unrolled``
method, twice as fast as its default ``scan`` here on the CPU (0.65 against 1.27 ms for 10
searches of 5,000).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

MAX_SIZE = 2**16
"""The largest ``n`` whose sort positions and indices pack into one 32-bit integer."""


def stable_sort_order(keys: jax.Array) -> jax.Array:
    """The indices that sort ``keys [n]`` (uint32) stably: ``lax.sort_key_val(keys,
    arange(n))[1]``, from two single-operand sorts. Needs ``n ≤`` :data:`MAX_SIZE`."""
    size = keys.shape[0]
    if size > MAX_SIZE:
        raise ValueError(f"stable_sort_order packs n <= {MAX_SIZE} elements, got {size}")
    index_bits = max(1, (size - 1).bit_length())
    sorted_keys = jnp.sort(keys)
    start = jnp.searchsorted(sorted_keys, keys, side="left", method="scan_unrolled")
    start = start.astype(jnp.uint32)
    packed = (start << index_bits) | jnp.arange(size, dtype=jnp.uint32)
    return (jnp.sort(packed) & jnp.uint32((1 << index_bits) - 1)).astype(jnp.int32)


def permutation(key: jax.Array, size: int) -> jax.Array:
    """``jax.random.permutation(key, size)``, bit for bit (same rounds, keys and stable sorts);
    for ``size`` above :data:`MAX_SIZE`, that function itself."""
    if size > MAX_SIZE:
        return jax.random.permutation(key, size)
    order = jnp.arange(size)
    num_rounds = math.ceil(3 * np.log(max(1, size)) / np.log(np.iinfo(np.uint32).max))
    for _ in range(num_rounds):
        key, subkey = jax.random.split(key)
        order = order[stable_sort_order(jax.random.bits(subkey, (size,), jnp.uint32))]
    return order
