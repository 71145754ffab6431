"""Conjugate gradient vs numpy.linalg.solve; both Fisher-vector products vs an explicit Hessian."""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.networks import (
    CategoricalPolicy,
    GaussianPolicy,
    distribution_from_parameters,
    distribution_parameters,
)
from jaxsafe.solvers import (
    conjugate_gradient,
    fisher_vector_product,
    gauss_newton_vector_product,
)


@pytest.mark.parametrize("seed", range(5))
def test_conjugate_gradient_solves_spd_systems_like_numpy(seed):
    rng = np.random.default_rng(seed)
    dim = 12
    m = rng.normal(size=(dim, dim))
    a = m @ m.T + 0.5 * np.eye(dim)
    b = rng.normal(size=dim)
    x = jax.jit(conjugate_gradient, static_argnums=(0, 2))(
        lambda v: jnp.asarray(a, jnp.float32) @ v, jnp.asarray(b, jnp.float32), 3 * dim
    )
    np.testing.assert_allclose(x, np.linalg.solve(a, b), rtol=2e-3, atol=2e-3)


def test_conjugate_gradient_on_pytrees_and_under_vmap():
    a = jnp.diag(jnp.arange(1.0, 5.0))
    b = {"w": jnp.array([1.0, 2.0]), "b": jnp.array([3.0, 4.0])}

    def matvec(v):
        flat = a @ jnp.concatenate([v["w"], v["b"]])
        return {"w": flat[:2], "b": flat[2:]}

    x = conjugate_gradient(matvec, b, iterations=4)
    np.testing.assert_allclose(x["w"], [1.0, 1.0], rtol=1e-5)
    np.testing.assert_allclose(x["b"], [1.0, 1.0], rtol=1e-5)
    scaled = jax.vmap(lambda s: conjugate_gradient(lambda v: s * v, jnp.ones(3), 2))(
        jnp.array([1.0, 2.0, 4.0])
    )
    np.testing.assert_allclose(scaled, [[1.0] * 3, [0.5] * 3, [0.25] * 3], rtol=1e-5)


def test_fisher_vector_product_equals_the_explicit_kl_hessian():
    policy = GaussianPolicy(action_size=2, hidden_sizes=(4,))
    observations = jax.random.normal(jax.random.PRNGKey(0), (16, 3))
    params = policy.init(jax.random.PRNGKey(1), observations[0])
    flat, unravel = jax.flatten_util.ravel_pytree(params)

    def mean_kl_flat(theta):
        old = policy.apply(jax.lax.stop_gradient(params), observations)
        new = policy.apply(unravel(theta), observations)
        return old.kl_divergence(new).mean()

    damping = 0.1
    hessian = jax.hessian(mean_kl_flat)(flat) + damping * jnp.eye(flat.size)
    product = fisher_vector_product(
        lambda p: mean_kl_flat(jax.flatten_util.ravel_pytree(p)[0]), params, damping
    )
    vector = jax.random.normal(jax.random.PRNGKey(2), flat.shape)
    result = jax.flatten_util.ravel_pytree(jax.jit(product)(unravel(vector)))[0]
    np.testing.assert_allclose(result, hessian @ vector, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "policy",
    [
        GaussianPolicy(action_size=2, hidden_sizes=(4,), initial_log_std=0.3),
        CategoricalPolicy(num_actions=3, hidden_sizes=(4,)),
    ],
    ids=["gaussian", "categorical"],
)
def test_gauss_newton_product_equals_the_explicit_kl_hessian(policy):
    """J_uᵀ M J_u v through the distribution's parameters is the KL Hessian at θ_k."""
    observations = jax.random.normal(jax.random.PRNGKey(0), (16, 3))
    params = policy.init(jax.random.PRNGKey(1), observations[0])
    # Larger output weights than the near-zero initialisation, so that the test sees curvature
    # of the network and not only of its last layer.
    params = jax.tree.map(lambda x: 3.0 * x + 0.1, params)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    old = policy.apply(params, observations)

    def mean_kl_flat(theta):
        return old.kl_divergence(policy.apply(unravel(theta), observations)).mean()

    damping = 0.1
    hessian = jax.hessian(mean_kl_flat)(flat) + damping * jnp.eye(flat.size)
    product = gauss_newton_vector_product(
        lambda p: distribution_parameters(policy.apply(p, observations)),
        lambda u: old.kl_divergence(distribution_from_parameters(u, old)).mean(),
        params,
        damping,
    )
    vector = jax.random.normal(jax.random.PRNGKey(2), flat.shape)
    result = jax.flatten_util.ravel_pytree(jax.jit(product)(unravel(vector)))[0]
    np.testing.assert_allclose(result, hessian @ vector, rtol=1e-4, atol=1e-5)
    forward_over_reverse = fisher_vector_product(
        lambda p: mean_kl_flat(jax.flatten_util.ravel_pytree(p)[0]), params, damping
    )
    np.testing.assert_allclose(
        result,
        jax.flatten_util.ravel_pytree(forward_over_reverse(unravel(vector)))[0],
        rtol=1e-4,
        atol=1e-5,
    )
