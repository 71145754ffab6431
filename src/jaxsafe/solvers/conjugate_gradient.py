"""Conjugate gradient and Fisher-vector products: the linear algebra of a trust-region step.

TRPO, CPO and VaR-CPO need H⁻¹g for the Hessian H of the mean KL divergence between the
behaviour policy and the new one, without ever forming H (ALGORITHMS.md §0.4):

    H v = ∇_θ [ (∇_θ D̄_KL(θ))ᵀ v ] |_{θ_k} + ζ v          (forward-over-reverse, damping ζ)

and conjugate gradient solves (H + ζI) x = g from x₀ = 0 with a fixed number of iterations,
so that the whole solve is a ``lax.fori_loop`` inside the jitted update.

The same H has a cheaper *Gauss–Newton* form through the distribution's parameters u(θ) (the
logits, or the Gaussian's mean and scale; ALGORITHMS.md §0.4). With D̄_KL(θ) = K(u(θ)),

    ∇²_θ D̄_KL = J_uᵀ (∇²_u K) J_u + Σᵢ ∂K/∂uᵢ · ∇²_θ uᵢ,

and ∂K/∂u = 0 at θ_k, where the KL has its minimum, so H = J_uᵀ M J_u with M = ∇²_u K, the
Fisher matrix of the distribution in its own parameters (Martens, "New insights and perspectives
on the natural gradient method", JMLR 2020, §9). Each product is then one forward-mode pass of
the linearised network, an elementwise M and one reverse pass, against the two nested passes of
forward-over-reverse; the forward pass at θ_k is computed once per solve.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

Pytree = Any


def tree_vdot(a: Pytree, b: Pytree) -> jax.Array:
    """``Σ aᵢ·bᵢ`` over all leaves."""
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def tree_axpy(alpha: jax.Array, x: Pytree, y: Pytree) -> Pytree:
    """``alpha · x + y`` leaf by leaf."""
    return jax.tree.map(lambda xi, yi: alpha * xi + yi, x, y)


def conjugate_gradient(
    matvec: Callable[[Pytree], Pytree], b: Pytree, iterations: int, epsilon: float = 1e-8
) -> Pytree:
    """Approximately solves ``A x = b`` for a symmetric positive-definite ``A``.

    Hestenes & Stiefel (1952); as in ALGORITHMS.md §0.4: x₀ = 0, r₀ = p₀ = b, and per iteration
    α = rᵀr / (pᵀAp + ε), x += α p, r −= α A p, p = r' + (r'ᵀr' / rᵀr) p. Exact after
    ``dim`` iterations in exact arithmetic; a fixed count keeps it a ``lax.fori_loop``.

    Args:
        matvec: ``v -> A v`` on pytrees shaped like ``b`` (e.g. a Fisher-vector product).
        b: the right-hand side, any pytree of arrays.
        iterations: the number of CG iterations (10 in CPO and safety-starter-agents).
        epsilon: guards the step size against a vanishing curvature ``pᵀAp``.

    Returns:
        ``x`` with the structure of ``b``.
    """

    def iteration(_, carry):
        x, r, p, r_dot_r = carry
        a_p = matvec(p)
        alpha = r_dot_r / (tree_vdot(p, a_p) + epsilon)
        x = tree_axpy(alpha, p, x)
        r = tree_axpy(-alpha, a_p, r)
        new_r_dot_r = tree_vdot(r, r)
        p = tree_axpy(new_r_dot_r / (r_dot_r + epsilon), p, r)
        return x, r, p, new_r_dot_r

    zeros = jax.tree.map(jnp.zeros_like, b)
    x, *_ = jax.lax.fori_loop(0, iterations, iteration, (zeros, b, b, tree_vdot(b, b)))
    return x


def fisher_vector_product(
    mean_kl: Callable[[Pytree], jax.Array], params: Pytree, damping: float | jax.Array
) -> Callable[[Pytree], Pytree]:
    """``v -> (∇²_θ D̄_KL(θ) + ζ I) v`` at ``params``, by forward-over-reverse differentiation.

    Args:
        mean_kl: ``θ -> D̄_KL(π_k ‖ π_θ)``, the batch-mean KL from the behaviour policy (its
            parameters held fixed inside) to the policy with parameters ``θ``; only the
            actor's parameters should be its argument.
        params: θ_k, where the Hessian is taken (the KL and its gradient vanish there).
        damping: ζ, added to the diagonal (0.1 in safety-starter-agents and OmniSafe).

    Returns:
        The Hessian-vector product with damping, on pytrees shaped like ``params``.
    """
    kl_gradient = jax.grad(mean_kl)

    def product(vector: Pytree) -> Pytree:
        _, hessian_vector = jax.jvp(kl_gradient, (params,), (vector,))
        return tree_axpy(damping, vector, hessian_vector)

    return product


def gauss_newton_vector_product(
    distribution_parameters: Callable[[Pytree], Pytree],
    divergence: Callable[[Pytree], jax.Array],
    params: Pytree,
    damping: float | jax.Array,
) -> Callable[[Pytree], Pytree]:
    """``v -> (J_uᵀ M J_u + ζ I) v`` at ``params``: the KL Hessian of θ_k in Gauss–Newton form.

    Equal to :func:`fisher_vector_product` of ``θ -> divergence(distribution_parameters(θ))``
    at ``params`` (in exact arithmetic; the module docstring has the identity), when
    ``divergence`` has its minimum, zero, at ``distribution_parameters(params)``.

    Args:
        distribution_parameters: ``θ -> u``, the policy's distribution parameters on the batch
            (a pytree of arrays, e.g. the logits).
        divergence: ``u -> D̄_KL(π_k ‖ π_u)``, the batch-mean KL from the behaviour policy.
        params: θ_k.
        damping: ζ, added to the diagonal.

    Returns:
        The damped Fisher-vector product, on pytrees shaped like ``params``.
    """
    parameters, jacobian_product = jax.linearize(distribution_parameters, params)
    transposed_jacobian_product = jax.linear_transpose(jacobian_product, params)
    divergence_gradient = jax.grad(divergence)

    def product(vector: Pytree) -> Pytree:
        _, curvature = jax.jvp(divergence_gradient, (parameters,), (jacobian_product(vector),))
        (fisher_vector,) = transposed_jacobian_product(curvature)
        return tree_axpy(damping, vector, fisher_vector)

    return product
