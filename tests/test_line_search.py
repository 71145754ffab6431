"""The line search takes the first acceptable candidate, as a plain Python loop would."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.solvers import backtracking_line_search, geometric_fractions


def _sequential(params, step, acceptable, ratio, count):
    for j in range(count):
        candidate = params + ratio**j * step
        if acceptable(candidate):
            return candidate, j
    return params, -1


@pytest.mark.parametrize("threshold", [2.5, 1.0, 0.3, 0.05, 1e-4])
def test_first_acceptable_candidate_like_a_sequential_loop(threshold):
    params, step = jnp.array([1.0, -2.0]), jnp.array([3.0, 4.0])  # |step| = 5

    def evaluate(candidate):
        moved = jnp.linalg.norm(candidate - params)
        return moved <= threshold, {"moved": moved}

    kept, info = jax.jit(
        lambda p, s: backtracking_line_search(p, s, geometric_fractions(0.8, 10), evaluate)
    )(params, step)
    expected, index = _sequential(
        np.asarray(params),
        np.asarray(step),
        lambda c: np.linalg.norm(c - params) <= threshold,
        0.8,
        10,
    )
    assert int(info.index) == index and bool(info.accepted) == (index >= 0)
    np.testing.assert_allclose(kept, expected, rtol=1e-6)
    if index >= 0:
        np.testing.assert_allclose(info.step_fraction, 0.8**index, rtol=1e-6)
        np.testing.assert_allclose(info.metrics["moved"], 5 * 0.8**index, rtol=1e-5)
    else:
        assert float(info.step_fraction) == 0.0  # reverted to the old parameters


def test_a_later_candidate_is_not_preferred_over_an_earlier_one():
    """Acceptance that is not monotone in j: the first passing index wins."""
    acceptable_at = jnp.array([False, True, False, True, True])

    def evaluate(candidate):
        j = jnp.round(jnp.log(candidate["x"][0]) / jnp.log(0.5)).astype(jnp.int32)
        return acceptable_at[j], j

    kept, info = backtracking_line_search(
        {"x": jnp.zeros(1)}, {"x": jnp.ones(1)}, geometric_fractions(0.5, 5), evaluate
    )
    assert int(info.index) == 1 and int(info.metrics) == 1
    np.testing.assert_allclose(kept["x"], [0.5])


def test_caller_fractions_are_tried_in_order():
    """Non-geometric fractions (CSC's β_j(1 − β_j)^{j+1} shape): the first passing one is kept."""
    fractions = jnp.array([0.4, 0.25, 0.1, 0.02])

    def evaluate(candidate):
        return candidate[0] <= 0.3, candidate[0]

    kept, info = backtracking_line_search(jnp.zeros(1), jnp.ones(1), fractions, evaluate)
    assert int(info.index) == 1
    np.testing.assert_allclose(kept, [0.25])
    np.testing.assert_allclose(info.step_fraction, 0.25)


def test_under_vmap_every_row_takes_its_own_first_acceptable_candidate():
    """Seeds vmapped over the search stop at different candidates; each matches the plain loop."""
    params, step = jnp.array([1.0, -2.0]), jnp.array([3.0, 4.0])
    thresholds = jnp.array([2.5, 1.0, 1e-4, 5.0])

    def search(threshold):
        def evaluate(candidate):
            assert candidate.shape == (2,)  # one candidate at a time, not a batch of them
            moved = jnp.linalg.norm(candidate - params)
            return moved <= threshold, {"moved": moved}

        return backtracking_line_search(params, step, geometric_fractions(0.8, 10), evaluate)

    kept, info = jax.jit(jax.vmap(search))(thresholds)
    for row, threshold in enumerate(np.asarray(thresholds)):
        expected, index = _sequential(
            np.asarray(params),
            np.asarray(step),
            lambda c, t=threshold: np.linalg.norm(c - params) <= t,
            0.8,
            10,
        )
        assert int(info.index[row]) == index
        np.testing.assert_allclose(kept[row], expected, rtol=1e-6)
