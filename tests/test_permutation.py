"""The minibatch shuffle equals ``jax.random.permutation`` bit for bit, and its stable sort equals
numpy's stable argsort, ties included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe import permutation as shuffle
from jaxsafe.permutation import MAX_SIZE, permutation, stable_sort_order

KEY_KINDS = {"raw": jax.random.PRNGKey, "typed": jax.random.key}


@pytest.mark.parametrize("kind", sorted(KEY_KINDS))
@pytest.mark.parametrize("size", [0, 1, 2, 3, 100, 5000, MAX_SIZE])
def test_permutation_is_jax_random_permutation(size, kind):
    keys = jax.vmap(KEY_KINDS[kind])(jnp.arange(3) + size)
    ours = jax.jit(jax.vmap(lambda key: permutation(key, size)))(keys)
    theirs = jax.jit(jax.vmap(lambda key: jax.random.permutation(key, size)))(keys)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(permutation(keys[0], size), theirs[0])  # eager, unbatched


def test_permutation_above_max_size_is_jax_random_permutation_itself(monkeypatch):
    def refuse(keys):
        raise AssertionError("stable_sort_order called above MAX_SIZE")

    monkeypatch.setattr(shuffle, "stable_sort_order", refuse)
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(
        permutation(key, MAX_SIZE + 1), jax.random.permutation(key, MAX_SIZE + 1)
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 4096, 4097, 5000, MAX_SIZE])
@pytest.mark.parametrize("num_distinct", [1, 7, 2**32 - 1])
def test_stable_sort_order_is_a_stable_argsort_with_ties(size, num_distinct):
    keys = np.random.default_rng(size).integers(0, num_distinct, size, dtype=np.uint64)
    keys = keys.astype(np.uint32)
    np.testing.assert_array_equal(
        jax.jit(stable_sort_order)(jnp.asarray(keys)), np.argsort(keys, kind="stable")
    )


def test_stable_sort_order_reaches_the_largest_packed_integer():
    keys = np.arange(MAX_SIZE, dtype=np.uint32)  # start(k_i) = i: the last packs to 2³² − 1
    np.testing.assert_array_equal(stable_sort_order(jnp.asarray(keys)), np.arange(MAX_SIZE))


def test_stable_sort_order_refuses_what_does_not_pack():
    with pytest.raises(ValueError, match="n <= 65536"):
        stable_sort_order(jnp.zeros(MAX_SIZE + 1, jnp.uint32))
