"""Running mean/variance against numpy over the concatenation of all batches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe import normalization


def test_matches_numpy_over_concatenated_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(size, 4)).astype(np.float32) for size in (1, 7, 32, 5)]
    state = normalization.init((4,))
    update = jax.jit(normalization.update)
    for i, batch in enumerate(batches):
        state = update(state, jnp.asarray(batch))
        seen = np.concatenate(batches[: i + 1])
        np.testing.assert_allclose(state.mean, seen.mean(axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(state.var, seen.var(axis=0), rtol=1e-4, atol=1e-5)
        assert state.count == len(seen)


def test_reduces_all_leading_axes_and_scalar_features():
    rng = np.random.default_rng(1)
    rollouts = rng.normal(size=(2, 6, 3, 2)).astype(np.float32)  # two [T, N, D1, D2] batches
    state = normalization.init((3, 2))
    for rollout in rollouts:
        state = normalization.update(state, jnp.asarray(rollout.reshape(2, 3, 3, 2)))
    flat = rollouts.reshape(-1, 3, 2)
    np.testing.assert_allclose(state.mean, flat.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.var, flat.var(axis=0), rtol=1e-5, atol=1e-6)
    assert state.count == 12

    rewards = rng.normal(size=(3, 10)).astype(np.float32)
    scalar = normalization.init(())
    for batch in rewards:
        scalar = normalization.update(scalar, jnp.asarray(batch))
    np.testing.assert_allclose(scalar.mean, rewards.mean(), rtol=1e-5)
    np.testing.assert_allclose(scalar.var, rewards.var(), rtol=1e-5)


def test_normalize_standardises_and_clips():
    rng = np.random.default_rng(2)
    data = rng.normal(-1.0, 5.0, size=(200, 3)).astype(np.float32)
    state = normalization.update(normalization.init((3,)), jnp.asarray(data))
    normalized = jax.jit(normalization.normalize)(state, jnp.asarray(data))
    expected = np.clip((data - data.mean(0)) / np.sqrt(data.var(0) + 1e-8), -10.0, 10.0)
    np.testing.assert_allclose(normalized, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(normalized.mean(0), 0.0, atol=1e-5)

    clipped = normalization.normalize(state, jnp.full((3,), 1e6), clip=2.0)
    np.testing.assert_allclose(clipped, 2.0)
    # Before any update only the clip acts (mean 0, variance 1).
    fresh = normalization.normalize(normalization.init((2,)), jnp.array([0.5, -20.0]))
    np.testing.assert_allclose(fresh, [0.5, -10.0], rtol=1e-6)


def test_constant_feature_is_finite():
    state = normalization.update(normalization.init((2,)), jnp.ones((8, 2)))
    assert np.all(np.isfinite(normalization.normalize(state, jnp.ones((2,)))))


def test_rejects_wrong_feature_shape():
    with pytest.raises(ValueError):
        normalization.update(normalization.init((3,)), jnp.zeros((5, 4)))
    with pytest.raises(ValueError):
        normalization.update(normalization.init((3,)), jnp.zeros((3,)))
