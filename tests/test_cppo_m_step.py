"""CPPO-EM's M-step: the clipped tracking loss and its gradient against numpy, the recovery
modification, the multi-radius target choice, and the loop on a fixed target."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from gymnax.environments import spaces

from jaxsafe.algorithms.cppo_m_step import (
    clipped_tracking_loss,
    m_step,
    select_target,
    tracking_weights,
)
from jaxsafe.networks import make_policy
from jaxsafe.solvers.cppo_e_step import radius_fractions


def _numpy_loss_and_grad(ratio, weights, lower_clip):
    """−(1/N) Σ min(w r, w max(r, c)) and its derivative in r, w held fixed, by cases."""
    n = ratio.size
    loss = -np.mean(np.minimum(weights * ratio, weights * np.maximum(ratio, lower_clip)))
    clipped = (weights < 0) & (ratio < lower_clip)
    grad = np.where(clipped, 0.0, -weights / n)
    return loss, grad


@pytest.mark.parametrize("seed", range(3))
def test_loss_and_gradient_match_numpy(seed):
    rng = np.random.default_rng(seed)
    ratio = rng.uniform(0.3, 1.7, size=200)
    target = rng.uniform(0.2, 1.5, size=200)
    weights = np.asarray(tracking_weights(jnp.float32(target), jnp.float32(ratio)), np.float64)
    np.testing.assert_allclose(weights, target - ratio, atol=1e-6)
    loss, grad = jax.jit(jax.value_and_grad(clipped_tracking_loss))(
        jnp.float32(ratio), jnp.float32(weights), 0.6
    )
    expected_loss, expected_grad = _numpy_loss_and_grad(ratio, weights, 0.6)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    np.testing.assert_allclose(grad, expected_grad, atol=1e-7)
    # Where the clip is active (w < 0, r < 0.6) the gradient is exactly zero.
    clipped = (weights < 0) & (ratio < 0.6)
    assert clipped.sum() >= 3
    assert np.all(np.asarray(grad)[clipped] == 0.0)
    # Elsewhere it is the tracking loss's: ∇_r ½ mean((v − r)²) = −(v − r)/N.
    tracking = jax.grad(lambda r: 0.5 * jnp.mean((jnp.float32(target) - r) ** 2))(
        jnp.float32(ratio)
    )
    np.testing.assert_allclose(np.asarray(grad)[~clipped], np.asarray(tracking)[~clipped], 1e-5)


def test_recovery_modification_equals_its_formula():
    rng = np.random.default_rng(3)
    target, ratio, cost = rng.normal(1, 0.2, 50), rng.normal(1, 0.1, 50), rng.normal(size=50)
    cost -= cost.mean()
    direction = cost / np.linalg.norm(cost)
    got = tracking_weights(
        jnp.float32(target), jnp.float32(ratio), True, 0.3, jnp.float32(direction)
    )
    residual = target - ratio
    expected = 0.3 * residual + 0.7 * (residual @ direction) * direction
    np.testing.assert_allclose(got, expected, atol=1e-6)
    normal = tracking_weights(
        jnp.float32(target), jnp.float32(ratio), False, 0.3, jnp.float32(direction)
    )
    np.testing.assert_allclose(normal, residual, atol=1e-6)
    # The weight carries no gradient.
    grad = jax.grad(lambda r: tracking_weights(jnp.float32(target), r).sum())(jnp.float32(ratio))
    np.testing.assert_array_equal(grad, 0.0)


def test_select_target_takes_the_smallest_radius_reaching_the_ratio():
    radii = jnp.array([1.0, 2.0, 3.0])
    targets = jnp.arange(3.0)[:, None] * jnp.ones((3, 4))
    at = lambda norm, multi=True: int(  # noqa: E731
        select_target(targets, radii, 1.0 + jnp.array([norm, 0, 0, 0]), multi)[1]
    )
    assert at(0.0) == 0 and at(0.9) == 0 and at(1.5) == 1 and at(2.5) == 2
    assert at(0.95) == 1  # within 1/1.1 of R_1: on to the next target
    assert at(7.0) == 2  # beyond every radius: the largest
    assert int(select_target(targets, radii, 1.0 + jnp.array([1.0, 0, 0, 0]), True, 0.0)[1]) == 0
    assert at(0.0, multi=False) == 2


def _problem(num=256, seed=0):
    """A small policy on fixed samples; targets that a perturbed copy of it realises exactly,
    at three radii (1 + s_j (r* − 1), s_j = √(j/3))."""
    key_obs, key_act, key_init, key_teacher = jax.random.split(jax.random.PRNGKey(seed), 4)
    network = make_policy(spaces.Box(-1.0, 1.0, (2,)), (16, 16), -0.5)
    observation = jax.random.normal(key_obs, (num, 3))
    params = network.init(key_init, observation[0])
    old = network.apply(params, observation)
    action = old.sample(seed=key_act)
    log_prob = old.log_prob(action)

    def ratio_and_kl(params):
        new = network.apply(params, observation)
        ratio = jnp.exp(new.log_prob(action) - log_prob)
        return ratio, jnp.mean(old.kl_divergence(new))

    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key_teacher, len(leaves))
    teacher = jax.tree.unflatten(
        tree, [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    )
    deviation = ratio_and_kl(teacher)[0] - 1.0
    fractions = radius_fractions(3)
    targets = 1.0 + fractions[:, None] * deviation
    radii = fractions * jnp.linalg.norm(deviation)
    cost = jnp.float32(np.random.default_rng(seed).normal(size=num))
    direction = (cost - cost.mean()) / jnp.linalg.norm(cost - cost.mean())
    return params, ratio_and_kl, targets, radii, direction


def _run(kl_limit, recovery=False, iterations=60, learning_rate=3e-3):
    params, ratio_and_kl, targets, radii, direction = _problem()
    optimizer = optax.adam(learning_rate)
    run = jax.jit(
        lambda params: m_step(
            params,
            optimizer.init(params),
            optimizer,
            ratio_and_kl,
            targets,
            radii,
            recovery,
            recovery,
            direction,
            0.3,
            0.6,
            kl_limit,
            iterations,
        )
    )
    result = run(params)
    return result, ratio_and_kl, params, targets


def test_tracking_loss_decreases_on_a_fixed_target():
    result, ratio_and_kl, params, targets = _run(jnp.inf)
    before = float(jnp.mean((targets[-1] - ratio_and_kl(params)[0]) ** 2))
    ratio, kl = ratio_and_kl(result.params)
    after = float(jnp.mean((targets[-1] - ratio) ** 2))
    assert int(result.steps) == 60
    assert after < 0.2 * before, (before, after)
    assert float(kl) > 0.0


def test_kl_early_stop_freezes_the_parameters():
    result, ratio_and_kl, *_ = _run(1e-3)
    steps = int(result.steps)
    assert 0 < steps < 60
    # The stop happens before the step that would start above the limit: the kept parameters
    # are those of the last step, whose KL is the first above it.
    assert float(ratio_and_kl(result.params)[1]) > 1e-3
    again, *_ = _run(1e-3, iterations=steps)
    jax.tree.map(np.testing.assert_array_equal, result.params, again.params)


def test_recovery_tracking_also_moves_towards_the_target():
    result, ratio_and_kl, params, targets = _run(jnp.inf, recovery=True)
    before = float(jnp.mean((targets[-1] - ratio_and_kl(params)[0]) ** 2))
    after = float(jnp.mean((targets[-1] - ratio_and_kl(result.params)[0]) ** 2))
    assert after < before
    assert int(result.target_index) == 2  # the full radius once ‖r − 1‖ has grown
