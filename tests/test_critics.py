"""The K stacked critics and PopArt (jaxsafe.critics) against numpy and plain regressions."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.critics import (
    MIN_SCALE,
    Critics,
    TargetStatistics,
    preserve_outputs,
    scale,
    update_statistics,
)

HIDDEN = (32, 32)
NUM_INPUTS = 4
SCALES = np.array([1.0, 1e3, 1e6])


def _inputs(num=128, seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), (num, NUM_INPUTS))


def _targets(observation, scales=SCALES):
    """[K, B]: one smooth function of the inputs per critic, far from zero, at its own scale."""
    x = np.asarray(observation, np.float64)
    shapes = np.stack(
        [
            2.0 + np.sin(x[:, 0] + x[:, 1]) + 0.5 * x[:, 2],
            2.0 + np.cos(x[:, 1]) - 0.5 * x[:, 3],
            2.0 + np.tanh(x[:, 0] - x[:, 2]) + 0.3 * x[:, 1] * x[:, 3],
        ]
    )
    return jnp.asarray(scales[:, None] * shapes[: len(scales)], jnp.float32)


@functools.cache
def _critics(learning_rate=3e-3, normalize_targets=True):
    return Critics(HIDDEN, learning_rate, 1.0, normalize_targets=normalize_targets)


@functools.partial(jax.jit, static_argnums=0)
def _values(critics, state, observation):
    return critics.values(state, observation)


@functools.partial(jax.jit, static_argnums=(0, 5, 6))
def _fit(critics, state, observation, targets, key, num_epochs=4, num_minibatches=4):
    return critics.fit(state, observation, targets, key, num_epochs, num_minibatches)


def _statistics(mean, second_moment):
    return TargetStatistics(
        jnp.asarray(mean, jnp.float32),
        jnp.asarray(second_moment, jnp.float32),
        jnp.ones(np.shape(mean), bool),
    )


def test_update_statistics_is_a_numpy_ema_set_by_the_first_batch():
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc, spread, size=64) for loc, spread in [(3, 1), (-40, 9), (1e3, 50)]]
    rate = 0.2
    statistics = TargetStatistics(jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False))
    step = jax.jit(update_statistics)
    mean = second = None
    for batch in batches:
        statistics = step(statistics, jnp.asarray(batch, jnp.float32), rate)
        if mean is None:
            mean, second = batch.mean(), (batch**2).mean()
        else:
            mean = (1 - rate) * mean + rate * batch.mean()
            second = (1 - rate) * second + rate * (batch**2).mean()
        np.testing.assert_allclose(statistics.mean, mean, rtol=1e-5)
        np.testing.assert_allclose(statistics.second_moment, second, rtol=1e-5)
        assert bool(statistics.initialised)
        np.testing.assert_allclose(scale(statistics), np.sqrt(second - mean**2), rtol=1e-3)
    # A constant target: σ is floored, not zero.
    constant = update_statistics(
        TargetStatistics(jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False)),
        jnp.full((8,), 5.0),
        rate,
    )
    np.testing.assert_allclose(scale(constant), MIN_SCALE, rtol=1e-3)


@jax.jit
def _init(key):
    """K critics on NUM_INPUTS inputs with random output biases (to exercise their rescaling).

    Adam's state does not depend on the step size, so every ``_critics(...)`` can use it.
    """
    critics = _critics()
    state = critics.init(key, len(SCALES), jnp.zeros(NUM_INPUTS))
    layers = dict(state.params["params"]["MLP_0"])
    bias = layers[critics.output_layer]["bias"]
    layers[critics.output_layer] = {
        **layers[critics.output_layer],
        "bias": jax.random.normal(jax.random.fold_in(key, 1), bias.shape),
    }
    return state._replace(params={"params": {**state.params["params"], "MLP_0": layers}})


def test_preserve_outputs_keeps_the_values_under_very_different_statistics():
    critics = _critics()
    observation = _inputs()
    state = _init(jax.random.PRNGKey(0))
    old = _statistics([0.5, -20.0, 3.0], [0.2501, 500.0, 10.0])
    state = state._replace(statistics=old)
    before = np.asarray(_values(critics, state, observation), np.float64)

    # Targets orders of magnitude away in mean and spread from the old statistics.
    new = jax.vmap(update_statistics, in_axes=(0, 0, None))(old, _targets(observation), 0.5)
    layers = dict(state.params["params"]["MLP_0"])
    layers[critics.output_layer] = jax.vmap(preserve_outputs)(
        layers[critics.output_layer], old, new
    )
    preserved = state._replace(
        params={"params": {**state.params["params"], "MLP_0": layers}}, statistics=new
    )
    after = np.asarray(_values(critics, preserved, observation), np.float64)

    new_scale = np.asarray(scale(new), np.float64)
    assert (new_scale / np.asarray(scale(old)) > 10).all()  # the statistics did move a lot
    tolerance = 1e-6 * (np.abs(np.asarray(new.mean)) + new_scale)[:, None]
    assert (np.abs(after - before) <= tolerance + 1e-5 * np.abs(before)).all()
    # Without the rescaling the values would have moved by far more than that.
    unpreserved = state._replace(statistics=new)
    moved = np.abs(np.asarray(_values(critics, unpreserved, observation)) - before)
    assert (moved.max(axis=1) > 1e3 * tolerance[:, 0]).all()


def test_values_are_mu_plus_sigma_times_the_network():
    critics = _critics()
    observation = _inputs()
    state = _init(jax.random.PRNGKey(1))
    state = state._replace(statistics=_statistics([1.0, -3.0, 50.0], [5.0, 10.0, 2600.0]))
    for k, (mean, sigma) in enumerate([(1.0, 2.0), (-3.0, 1.0), (50.0, 10.0)]):
        params_k = jax.tree.map(lambda x, k=k: x[k], state.params)
        network = np.asarray(jax.jit(critics.network.apply)(params_k, observation))
        np.testing.assert_allclose(
            _values(critics, state, observation)[k], mean + sigma * network, rtol=1e-5, atol=1e-5
        )


def test_fit_reports_the_normalised_loss_and_with_zero_step_size_keeps_the_values():
    """One full-batch step: the loss is ½ MSE(V, G) / σ'², σ' from a numpy first batch."""
    critics = _critics(learning_rate=0.0)  # Adam with step size 0: only PopArt moves params
    observation, key = _inputs(), jax.random.PRNGKey(2)
    state = _init(jax.random.PRNGKey(3))
    targets = _targets(observation)
    before = np.asarray(_values(critics, state, observation), np.float64)

    fitted, losses = _fit(critics, state, observation, targets, key, 1, 1)

    t = np.asarray(targets, np.float64)
    sigma = np.sqrt(np.maximum((t**2).mean(axis=1) - t.mean(axis=1) ** 2, MIN_SCALE**2))
    expected = 0.5 * ((before - t) ** 2).mean(axis=1) / sigma**2
    np.testing.assert_allclose(losses, expected, rtol=1e-3)
    np.testing.assert_allclose(fitted.statistics.mean, t.mean(axis=1), rtol=1e-5)
    after = np.asarray(_values(critics, fitted, observation))
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6 * SCALES.max())


def _relative_errors(critics, observation, targets, num_fits=25):
    state = _init(jax.random.PRNGKey(4))

    def errors(state):
        values = np.asarray(_values(critics, state, observation), np.float64)
        t = np.asarray(targets, np.float64)
        return ((values - t) ** 2).mean(axis=1) / t.var(axis=1)

    initial = errors(state)
    for key in jax.random.split(jax.random.PRNGKey(5), num_fits):
        state, _ = _fit(critics, state, observation, targets, key)
    return initial, errors(state)


@pytest.fixture(scope="module")
def learned():
    observation = _inputs()
    targets = _targets(observation)
    return {
        normalize: _relative_errors(_critics(normalize_targets=normalize), observation, targets)
        for normalize in (True, False)
    }


def test_fit_learns_targets_six_orders_of_magnitude_apart_at_once(learned):
    initial, final = learned[True]
    assert (initial > 1.0).all()  # the targets are far from the untrained values
    # Every critic explains most of its target's variance, whatever the scale.
    assert (final < 0.1).all(), final


def test_without_popart_the_large_scale_critics_do_not_learn(learned):
    _, popart = learned[True]
    initial, final = learned[False]
    # Unit-scale targets still fit; at 1e3 and 1e6 Adam's bounded steps cannot reach the
    # targets in raw units, and the error stays near its initial value.
    assert final[0] < 0.2
    assert (final[1:] > 0.5 * initial[1:]).all() and (final[1:] > 100 * popart[1:]).all()


def test_the_critics_are_fitted_independently():
    critics = _critics()
    observation, key = _inputs(), jax.random.PRNGKey(6)
    state = _init(jax.random.PRNGKey(7))
    targets = _targets(observation)
    changed = targets.at[1].set(-7.0 * targets[1] + 100.0)

    fitted, losses = _fit(critics, state, observation, targets, key)
    refitted, relosses = _fit(critics, state, observation, changed, key)
    for k in (0, 2):
        jax.tree.map(
            lambda a, b, k=k: np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7),
            fitted,
            refitted,
        )
        np.testing.assert_allclose(losses[k], relosses[k], rtol=1e-6)
    assert not np.allclose(fitted.statistics.mean[1], refitted.statistics.mean[1])
    kernel = lambda s: s.params["params"]["MLP_0"]["Dense_0"]["kernel"][1]  # noqa: E731
    assert not np.allclose(kernel(fitted), kernel(refitted))
