"""The minibatch shuffle equals ``jax.random.permutation`` bit for bit, and its stable sort equals
numpy's stable argsort, ties included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.permutation import MAX_SIZE, permutation, stable_sort_order


@pytest.mark.parametrize("size", [1, 2, 3, 100, 5000, MAX_SIZE, MAX_SIZE + 1])
def test_permutation_is_jax_random_permutation(size):
    keys = jax.random.split(jax.random.PRNGKey(size), 3)
    shuffle = jax.jit(jax.vmap(lambda key: permutation(key, size)))
    reference = jax.jit(jax.vmap(lambda key: jax.random.permutation(key, size)))
    ours, theirs = shuffle(keys), reference(keys)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("num_distinct", [1, 7, 5000, 2**32 - 1])
def test_stable_sort_order_is_a_stable_argsort_with_ties(num_distinct):
    keys = np.random.default_rng(1).integers(0, num_distinct, 5000, dtype=np.uint64)
    keys = keys.astype(np.uint32)
    np.testing.assert_array_equal(
        jax.jit(stable_sort_order)(jnp.asarray(keys)), np.argsort(keys, kind="stable")
    )


def test_stable_sort_order_refuses_what_does_not_pack():
    with pytest.raises(ValueError, match="n <= 65536"):
        stable_sort_order(jnp.zeros(MAX_SIZE + 1, jnp.uint32))
