"""The augmented-cost identity J_ĉ = β E[C²] + 2dμ and Cantelli's bound (VARCPO.md §1–2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxsafe.cantelli import augmented_cost, cantelli_bound


def _episode_sums(costs, discount, alpha, threshold):
    """Σ_t γ^t ĉ_t and C = Σ_t γ^t c_t of one episode, ĉ from a scan over the steps."""

    def one_step(carry, cost):
        cost_so_far, discount_t, total = carry
        c_hat = augmented_cost(cost, cost_so_far, discount_t, alpha, threshold)
        carry = (cost_so_far + discount_t * cost, discount_t * discount, total + discount_t * c_hat)
        return carry, None

    (cost_return, _, augmented_return), _ = jax.lax.scan(one_step, (0.0, 1.0, 0.0), costs)
    return augmented_return, cost_return


@pytest.mark.parametrize(
    ("discount", "alpha", "threshold"), [(1.0, 0.05, 15.0), (0.999, 0.1, 5.0), (0.9, 0.5, 2.0)]
)
def test_augmented_return_is_beta_c_squared_plus_2dc_for_every_episode(discount, alpha, threshold):
    costs = jax.random.exponential(jax.random.PRNGKey(0), (500, 30))
    augmented, cost_return = jax.jit(jax.vmap(_episode_sums, in_axes=(0, None, None, None)))(
        costs, discount, alpha, threshold
    )
    c = np.asarray(costs, np.float64)
    reference_c = (c * discount ** np.arange(30)).sum(axis=1)
    beta = 1 / alpha - 1
    np.testing.assert_allclose(cost_return, reference_c, rtol=1e-5)
    np.testing.assert_allclose(
        augmented, beta * reference_c**2 + 2 * threshold * reference_c, rtol=1e-4
    )


def test_monte_carlo_identity_on_the_icy_lake_one_ice_path():
    """C = 8.5 + 10·Bernoulli(0.1) (γ = 1): J_ĉ = β E[C²] + 2dμ with μ = 9.5, E[C²] = 99.25."""
    slips = jax.random.bernoulli(jax.random.PRNGKey(1), 0.1, (200_000,))
    # S → F → T → F → F → F → G: snow 2, the ice tile 0.5 (+10 on a slip), the goal 0.
    path = jnp.array([2.0, 0.5, 2.0, 2.0, 2.0, 0.0])
    step_costs = path + 10.0 * slips[:, None] * jnp.array([0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    augmented, _ = jax.vmap(_episode_sums, in_axes=(0, None, None, None))(
        step_costs, 1.0, 0.05, 15.0
    )
    beta, mean, second_moment = 19.0, 9.5, 0.9 * 8.5**2 + 0.1 * 18.5**2
    expected = beta * second_moment + 2 * 15.0 * mean
    standard_error = np.std(np.asarray(augmented)) / np.sqrt(augmented.size)
    assert abs(float(augmented.mean()) - expected) < 5 * standard_error


@pytest.mark.parametrize(
    "distribution",
    [
        stats.norm(3.0, 2.0),
        stats.expon(scale=2.0),
        stats.uniform(0, 10),
        stats.gamma(2.0),
        stats.lognorm(0.8),
    ],
)
def test_cantelli_bound_is_never_below_the_tail_probability(distribution):
    mean, variance = distribution.mean(), distribution.var()
    thresholds = mean + np.linspace(0.01, 6.0, 60) * np.sqrt(variance)
    bound = np.asarray(
        cantelli_bound(
            jnp.float32(mean), jnp.float32(variance + mean**2), jnp.asarray(thresholds, jnp.float32)
        )
    )
    assert (bound >= distribution.sf(thresholds) - 1e-6).all()


def test_cantelli_bound_on_a_bernoulli_tail_and_where_it_is_invalid():
    # One-ice IcyLake path at d = 15: the true P(C ≥ 15) is 0.1; the bound must not be lower.
    mean, second_moment = 9.5, 0.9 * 8.5**2 + 0.1 * 18.5**2
    bound = float(cantelli_bound(jnp.float32(mean), jnp.float32(second_moment), 15.0))
    np.testing.assert_allclose(bound, 9.0 / (9.0 + 5.5**2), rtol=1e-5)
    assert bound >= 0.1
    assert float(cantelli_bound(jnp.float32(20.0), jnp.float32(500.0), 15.0)) == 1.0
