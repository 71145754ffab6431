"""Lagrange multiplier: projected SGD against a plain loop, sign behaviour, jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.lagrange import LagrangeMultiplier, LagrangeState


def test_sgd_matches_projected_ascent_loop():
    rng = np.random.default_rng(0)
    violations = rng.normal(size=40).astype(np.float32)
    learning_rate = 0.3
    multiplier = LagrangeMultiplier(learning_rate, optimizer="sgd")
    update = jax.jit(multiplier.update)
    state = multiplier.init(0.5)
    expected = np.float32(0.5)
    for violation in violations:
        state = update(state, violation)
        expected = max(np.float32(0.0), expected + np.float32(learning_rate) * violation)
        np.testing.assert_allclose(state.value, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_grows_while_violated_and_decays_to_zero_while_satisfied(optimizer):
    multiplier = LagrangeMultiplier(0.05, optimizer=optimizer)
    state = multiplier.init(0.0)
    values = []
    for _ in range(30):
        state = multiplier.update(state, jnp.float32(1.0))
        values.append(float(state.value))
    assert np.all(np.diff(values) > 0)
    for _ in range(200):
        state = multiplier.update(state, jnp.float32(-2.0))
        assert state.value >= 0.0
    assert state.value == 0.0


def test_init_projects_and_is_scalar():
    multiplier = LagrangeMultiplier(0.1)
    state = multiplier.init(-3.0)
    assert isinstance(state, LagrangeState)
    assert state.value.shape == () and state.value == 0.0


def test_rejects_unknown_optimizer():
    with pytest.raises(ValueError):
        LagrangeMultiplier(0.1, optimizer="rmsprop")


def test_jit_and_vmap_over_initial_values_and_violations():
    multiplier = LagrangeMultiplier(0.1, optimizer="sgd")
    initial_values = jnp.array([0.0, 1.0, 0.05, 2.0])
    violations = jnp.array([0.5, -0.5, -1.0, 3.0])  # e.g. J_C − d for four cost limits d

    @jax.jit
    @jax.vmap
    def run(initial_value, violation):
        state = multiplier.init(initial_value)
        for _ in range(3):
            state = multiplier.update(state, violation)
        return state.value

    np.testing.assert_allclose(
        run(initial_values, violations),
        np.maximum(0.0, np.array([0.0, 1.0, 0.05, 2.0]) + 0.3 * np.array([0.5, -0.5, -1.0, 3.0])),
        rtol=1e-6,
    )

    adam = LagrangeMultiplier(0.1)
    states = jax.jit(jax.vmap(adam.update))(jax.vmap(adam.init)(initial_values), violations)
    # Adam's first step has magnitude ≈ lr in the direction of the violation.
    np.testing.assert_allclose(
        states.value, np.maximum(0.0, initial_values + 0.1 * np.sign(violations)), rtol=1e-5
    )
