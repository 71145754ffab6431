"""Cantelli's bound on a Value-at-Risk constraint and the augmented cost that linearises it.

Tangri & Calliess, "VaR-CPO" (arXiv 2601.22993), §4 (VARCPO.md §1–2). For the discounted cost
return C = Σ_t γ^t c_t with mean μ and variance σ², the VaR constraint P(C ≥ d) ≤ α holds
whenever μ < d and (eq. 20–22)

    P(C ≥ d) ≤ σ² / (σ² + (d − μ)²) ≤ α   ⇔   β E[C²] + 2dμ ≤ d² + μ²/α,   β = 1/α − 1.

The left side is the expected discounted return of the augmented per-step cost (eq. 26)

    ĉ_t = β γ^t c_t² + 2 (β C_t + d) c_t,   C_t = Σ_{k<t} γ^k c_k,

because C² = Σ_t γ^t (γ^t c_t² + 2 C_t c_t) (eq. 25), so J_ĉ = β E[C²] + 2dμ (eq. 27).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def augmented_cost(
    cost: jax.Array,
    cost_so_far: jax.Array,
    cost_discount_t: jax.Array,
    alpha: float | jax.Array,
    threshold: float | jax.Array,
) -> jax.Array:
    """ĉ_t = β γ^t c_t² + 2 (β C_t + d) c_t, elementwise (eq. 26).

    Args:
        cost: c_t.
        cost_so_far: C_t = Σ_{k<t} γ^k c_k, the episode's discounted cost before step t.
        cost_discount_t: γ^t at step t of the episode.
        alpha: the tail probability α ∈ (0, 1).
        threshold: the VaR threshold d.
    """
    beta = 1.0 / alpha - 1.0
    return beta * cost_discount_t * cost**2 + 2.0 * (beta * cost_so_far + threshold) * cost


def cantelli_bound(
    mean: jax.Array, second_moment: jax.Array, threshold: float | jax.Array
) -> jax.Array:
    """σ² / (σ² + (d − μ)²), an upper bound on P(C ≥ d) when μ < d (eq. 20); 1 otherwise."""
    variance = jnp.maximum(second_moment - mean**2, 0.0)
    margin = threshold - mean
    bound = variance / jnp.maximum(variance + margin**2, 1e-12)
    return jnp.where(margin > 0, bound, 1.0)
