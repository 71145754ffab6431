"""The analytic solution of CPO's local problem with one constraint.

Achiam et al., "Constrained Policy Optimization" (ICML 2017), eq. (10)–(11), Appendix 10.2
Theorem 2 and eq. (14), worked in the minimisation ("loss") form of ALGORITHMS.md §A.2:

    max_x gᵀx   s.t.   c + bᵀx ≤ 0,   ½ xᵀHx ≤ δ.

With g̃ = −g (the loss gradient), δ̃ = 2δ, v = H⁻¹g̃, w = H⁻¹b (conjugate gradient),
q = g̃ᵀv, r = g̃ᵀw, s = bᵀw, A = q − r²/s, B = δ̃ − c²/s, the cases are

    4: bᵀb ≤ 1e-8, c < 0   no cost gradient: the TRPO step     λ = √(q/δ̃), ν = 0
    3: c < 0, B < 0        the whole trust region is feasible: λ = √(q/δ̃), ν = 0
    2: c < 0, B ≥ 0        feasible start, the plane cuts the region: the dual below
    1: c ≥ 0, B ≥ 0        infeasible start, recovery possible: the dual below
    0: c ≥ 0, B < 0        no feasible point: recover along −√(δ̃/s) w

and the step is x = −(v + ν w)/λ. The dual of cases 1–2 maximises over λ ≥ 0 the two pieces
f_a(λ) = −½(A/λ + Bλ) − rc/s on Λ_a = {λ c − r > 0} and f_b(λ) = −½(q/λ + δ̃λ) on
Λ_b = {λ c − r ≤ 0}, each at its projected stationary point, then ν = (λc − r)⁺/s.
(The objective-form signs of the paper's main text, mixed with these formulas as OmniSafe
does, give a wrong ν; see the spec's sign warning.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxsafe.solvers.conjugate_gradient import (
    Pytree,
    conjugate_gradient,
    tree_axpy,
    tree_vdot,
)

_TINY = 1e-12


class CPOStepInfo(NamedTuple):
    """Diagnostics of one solve (ALGORITHMS.md §A.2 lists them)."""

    case: jax.Array  # int32 in 0..4
    lagrange_multiplier: jax.Array  # λ*, the trust-region multiplier
    cost_multiplier: jax.Array  # ν*, the constraint multiplier
    q: jax.Array
    r: jax.Array
    s: jax.Array
    A: jax.Array  # noqa: N815 (the paper's names)
    B: jax.Array  # noqa: N815


def _project(x: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    return jnp.maximum(low, jnp.minimum(high, x))


def _dual(q, r, s, c, delta_tilde):
    """λ* and ν* of cases 1–2."""
    a = jnp.maximum(q - r**2 / s, 0.0)
    b = delta_tilde - c**2 / s
    inf = jnp.inf
    lambda_mid = r / jnp.where(jnp.abs(c) < _TINY, jnp.where(c < 0, -_TINY, _TINY), c)
    positive_mid = lambda_mid > 0
    # Λ_a and Λ_b as intervals [low, high]; an empty set has low > high.
    a_low = jnp.where(c < 0, 0.0, jnp.where(positive_mid, lambda_mid, 0.0))
    a_high = jnp.where(c < 0, jnp.where(positive_mid, lambda_mid, -inf), inf)
    b_low = jnp.where(c < 0, jnp.where(positive_mid, lambda_mid, 0.0), 0.0)
    b_high = jnp.where(c < 0, inf, jnp.where(positive_mid, lambda_mid, -inf))

    lambda_a = jnp.maximum(_project(jnp.sqrt(a / jnp.maximum(b, _TINY)), a_low, a_high), _TINY)
    lambda_b = jnp.maximum(_project(jnp.sqrt(q / delta_tilde), b_low, b_high), _TINY)
    f_a = jnp.where(a_low <= a_high, -0.5 * (a / lambda_a + b * lambda_a) - r * c / s, -inf)
    f_b = jnp.where(b_low <= b_high, -0.5 * (q / lambda_b + delta_tilde * lambda_b), -inf)
    lam = jnp.where(f_a >= f_b, lambda_a, lambda_b)
    nu = jnp.maximum(lam * c - r, 0.0) / s
    return lam, nu, a, b


def cpo_step(
    g: Pytree,
    b: Pytree,
    c: jax.Array,
    hvp: Callable[[Pytree], Pytree],
    max_kl: float | jax.Array,
    cg_iterations: int = 10,
) -> tuple[Pytree, CPOStepInfo]:
    """The step x solving CPO's local problem, and its diagnostics.

    Args:
        g: gradient of the objective to maximise (the reward surrogate).
        b: gradient of the constraint function (the scale-matched cost surrogate).
        c: the constraint's current value, ``Ĵ_C − d`` in the same scale as ``b``.
        hvp: ``v -> H v``, the (damped) KL Hessian-vector product.
        max_kl: δ, the trust region ½ xᵀHx ≤ δ.
        cg_iterations: conjugate-gradient iterations for H⁻¹g̃ and H⁻¹b.

    Returns:
        ``(x, info)`` with ``x`` shaped like ``g``.
    """
    loss_gradient = jax.tree.map(jnp.negative, g)
    v = conjugate_gradient(hvp, loss_gradient, cg_iterations)
    w = conjugate_gradient(hvp, b, cg_iterations)
    q = tree_vdot(loss_gradient, v)
    r = tree_vdot(loss_gradient, w)
    s = jnp.maximum(tree_vdot(b, w), _TINY)
    delta_tilde = 2.0 * jnp.asarray(max_kl, jnp.float32)
    c = jnp.asarray(c, jnp.float32)

    no_cost_gradient = tree_vdot(b, b) <= 1e-8
    b_value = delta_tilde - c**2 / s
    case = jnp.where(
        c < 0,
        jnp.where(no_cost_gradient, 4, jnp.where(b_value < 0, 3, 2)),
        jnp.where(b_value < 0, 0, 1),
    ).astype(jnp.int32)

    trpo_lambda = jnp.sqrt(q / delta_tilde)
    dual_lambda, dual_nu, a_value, _ = _dual(q, r, s, c, delta_tilde)
    uses_dual = (case == 1) | (case == 2)
    lam = jnp.where(uses_dual, dual_lambda, trpo_lambda)
    nu = jnp.where(uses_dual, dual_nu, 0.0)

    cpo_direction = tree_axpy(nu, w, v)  # v + ν w
    cpo_step_ = jax.tree.map(lambda d: -d / jnp.maximum(lam, _TINY), cpo_direction)
    recovery = jax.tree.map(lambda wi: -jnp.sqrt(delta_tilde / s) * wi, w)
    step = jax.tree.map(
        lambda regular, infeasible: jnp.where(case == 0, infeasible, regular), cpo_step_, recovery
    )
    nu = jnp.where(case == 0, jnp.sqrt(delta_tilde / s), nu)
    info = CPOStepInfo(case, jnp.where(case == 0, 0.0, lam), nu, q, r, s, a_value, b_value)
    return step, info
