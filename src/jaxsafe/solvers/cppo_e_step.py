"""CPPO-EM's E-step: the optimal probability ratios of a batch, by the planar closed form.

Xuan, Zhang, Yin & Lam, "Constrained Proximal Policy Optimization" (arXiv 2305.14216), eqs.
(3)–(6), Theorem 3.4 and Appendix C.1 (Algorithm 1); ALGORITHMS.md §B.2–B.5. With 𝐯 the vector
of ratio deviations v_i − 1 over the batch's N samples and 𝐀, 𝐀_c the centred reward and cost
advantages, the E-step solves

    max_𝐯 𝐯·𝐀   s.t.   𝐯·𝐀_c ≤ D,   ‖𝐯‖² ≤ R²,   Σ_i 𝐯_i = 0,   𝐯_i ≥ b_low,

with D = N d′ (:func:`cost_budget`) and R² = N δ′ (:func:`radius`). Without the box the optimum
lies on the circle of radius R in span(𝐀_c, 𝐀) (Thm 3.4): :func:`planar_solution` finds its
angle θ′ from a two-vector Gram–Schmidt of (𝐀_c, 𝐀). The box is handled by the masking
heuristic of Algorithm 1 (:func:`e_step`): clip the entries below b_low, fix them there for
good, and solve the planar problem again on the free entries with the mean shift, radius and
cost budget that keep Σ𝐯 = 0, ‖𝐯‖ = R and 𝐯·𝐀_c ≤ D exact. In recovery mode (eq. (6), §3.2.2)
the angle rule is the three-case rule of :func:`recovery_angle`.

Everything here is a pure function of arrays, jit- and vmap-safe (the masking loop is a
``lax.while_loop`` over a fixed-size mask), ``[N]`` vectors in, ``[N]`` out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

KL_TO_VARIANCE = 2.0 * math.log(2.0) - 1.0
"""2 ln 2 − 1 ≈ 0.3863: (2 ln 2 − 1)(x − 1)² + (x − 1) ≤ x ln x for x < 2 (App. E, eq. (21)),
so the paper's ratio-variance budget is δ′ = KL target / (2 ln 2 − 1)."""

RADIUS_MODES = ("n_delta", "2n_delta")
"""``"n_delta"``: R² = N δ′, i.e. Var(v) = δ′, the reading under which App. E's KL range
(0.02, 0.0518) holds (the default, ALGORITHMS.md §B.2); ``"2n_delta"``: R² = 2 N δ′, the squared
reading of eq. (5)'s ‖𝐯‖ ≤ 2Nδ′ (Var(v) = 2δ′). The unsquared reading R = 2Nδ′ gives
Var(v) = 4Nδ′², e.g. 10.7 for N = 1000, and is not offered."""

LIMIT_SCALES = ("episode", "discounted")
"""How the episode-level slack d − Ĵ_C becomes the per-sample budget d′ (§B.2, [AMBIGUOUS]):
``"episode"``: d′ = (d − Ĵ_C) / T̄, Ĵ_C the undiscounted mean episode cost and T̄ the mean
episode length (the scale matching of CPO's reference code; the default, consistent with the
paper's undiscounted limits 25, 5, 50); ``"discounted"``: the paper-literal
d′ = (1 − γ_c)(d − Ĵ_C), Ĵ_C the γ_c-discounted episode cost."""

BUDGET_COEFFICIENTS = ("unmasked", "masked")
"""The coefficient of the mean-shift term of the masked cost budget (§B.4 step 5, [AMBIGUOUS]):
``"unmasked"``: n = N − M, the number of free entries, which the algebra requires (the
default); ``"masked"``: M, the number of clipped entries, as Algorithm 1 is printed."""

RECOVERY_CASES = {0: "normal", 1: "zero-reward line", 2: "least-reward feasible", 3: "cost descent"}
"""The ``case`` of a solve: 0 in normal mode, else the recovery case of Fig. 1 (§B.5)."""

_EPS = 1e-6  # relative size below which a Gram–Schmidt component counts as zero (float32)


class PlanarBasis(NamedTuple):
    """Two-vector Gram–Schmidt of (𝐀_c, 𝐀): ``[N]`` unit vectors and the plane's coordinates."""

    cost_direction: jax.Array  # Ã_c = 𝐀_c / ‖𝐀_c‖ (0 when 𝐀_c ≈ 0)
    reward_direction: jax.Array  # Ã = 𝐀_⊥ / ‖𝐀_⊥‖ (0 when 𝐀 ∥ 𝐀_c or 𝐀 ≈ 0)
    cost_norm: jax.Array  # ‖𝐀_c‖
    reward_angle: jax.Array  # θ_A = atan2(a_⊥, a_∥) ∈ [0, π] (π/2 when 𝐀 ≈ 0)
    has_cost: jax.Array  # bool, ‖𝐀_c‖ is not negligible
    reward_norm: jax.Array  # ‖𝐀‖


class PlanarSolution(NamedTuple):
    v: jax.Array  # [N] ratio deviations v_i − 1
    angle: jax.Array  # θ′ from Ã_c
    kappa: jax.Array  # κ = D / (R ‖𝐀_c‖), the normalised slack
    case: jax.Array  # int32, see RECOVERY_CASES


class EStepSolution(NamedTuple):
    """The masking heuristic's result and its diagnostics."""

    v: jax.Array  # [N] ratio deviations v_i − 1 (the targets are 1 + v)
    iterations: jax.Array  # int32, planar solves done (1 when nothing was clipped)
    num_clipped: jax.Array  # int32, entries fixed at b_low
    converged: jax.Array  # bool, no free entry violates b_low (False only at the cap)
    angle: jax.Array  # θ′ of the last planar solve
    kappa: jax.Array  # κ of the last planar solve
    case: jax.Array  # int32, the last solve's case (RECOVERY_CASES)


# ---------------------------------------------------------------------------------------------
# Scales: the radius R and the budget D
# ---------------------------------------------------------------------------------------------


def radius(num_samples: int | jax.Array, kl_target: float | jax.Array, mode: str = "n_delta"):
    """R of ‖𝐯‖ ≤ R for N samples: R² = N δ′ (or 2 N δ′), δ′ = KL target / (2 ln 2 − 1)."""
    if mode not in RADIUS_MODES:
        raise ValueError(f"unknown radius mode {mode!r}; valid: {list(RADIUS_MODES)}")
    variance = jnp.asarray(kl_target, jnp.float32) / KL_TO_VARIANCE
    factor = 1.0 if mode == "n_delta" else 2.0
    return jnp.sqrt(factor * num_samples * variance)


def per_sample_budget(
    cost_limit: jax.Array,
    episode_cost: jax.Array,
    episode_length: jax.Array,
    cost_discount: float,
    scale: str = "episode",
) -> jax.Array:
    """d′ of E[v A_c] ≤ d′ (§B.2 eq. (4)); see :data:`LIMIT_SCALES`.

    Args:
        cost_limit: d.
        episode_cost: Ĵ_C (undiscounted for ``"episode"``, γ_c-discounted for ``"discounted"``).
        episode_length: T̄, the mean episode length (read by ``"episode"`` only).
        cost_discount: γ_c (read by ``"discounted"`` only).
        scale: a key of :data:`LIMIT_SCALES`.
    """
    if scale == "episode":
        return (cost_limit - episode_cost) / jnp.maximum(episode_length, 1.0)
    if scale == "discounted":
        return (1.0 - cost_discount) * (cost_limit - episode_cost)
    raise ValueError(f"unknown limit scale {scale!r}; valid: {list(LIMIT_SCALES)}")


# ---------------------------------------------------------------------------------------------
# The planar closed form (Thm 3.4, §B.3) and the recovery rule (eq. (6), §B.5)
# ---------------------------------------------------------------------------------------------


def _safe_unit(x: jax.Array, norm: jax.Array, ok: jax.Array) -> jax.Array:
    return jnp.where(ok, x / jnp.where(ok, norm, 1.0), 0.0)


def planar_basis(advantages: jax.Array, cost_advantages: jax.Array) -> PlanarBasis:
    """Gram–Schmidt of the centred (𝐀_c, 𝐀) (§B.3); shapes ``[N]``.

    Ã_c = 𝐀_c/‖𝐀_c‖, a_∥ = 𝐀·Ã_c, 𝐀_⊥ = 𝐀 − a_∥ Ã_c, Ã = 𝐀_⊥/‖𝐀_⊥‖, θ_A = atan2(‖𝐀_⊥‖, a_∥).
    Degenerate inputs: 𝐀_c ≈ 0 gives Ã_c = 0 (and Ã = 𝐀/‖𝐀‖); 𝐀 ∥ 𝐀_c gives Ã = 0 (no
    reward off the cost axis, so the circle collapses to its Ã_c component, which is still
    optimal: a shorter 𝐯 with the same objective and cost); 𝐀 ≈ 0 gives θ_A = π/2 (no reward
    preference: the normal rule then returns the least-norm point of the budget, the recovery
    rule pure cost descent).
    """
    chex.assert_rank([advantages, cost_advantages], 1)
    chex.assert_equal_shape([advantages, cost_advantages])
    cost_norm = jnp.linalg.norm(cost_advantages)
    reward_norm = jnp.linalg.norm(advantages)
    scale = jnp.maximum(jnp.maximum(cost_norm, reward_norm), jnp.finfo(jnp.float32).tiny)
    has_cost = cost_norm > _EPS * scale
    cost_direction = _safe_unit(cost_advantages, cost_norm, has_cost)
    parallel = jnp.dot(advantages, cost_direction)
    perpendicular = advantages - parallel * cost_direction
    perpendicular_norm = jnp.linalg.norm(perpendicular)
    has_reward = reward_norm > _EPS * scale
    off_axis = perpendicular_norm > 10.0 * _EPS * jnp.maximum(reward_norm, scale * _EPS)
    reward_direction = _safe_unit(perpendicular, perpendicular_norm, off_axis & has_reward)
    reward_angle = jnp.where(
        has_reward,
        jnp.arctan2(jnp.where(off_axis, perpendicular_norm, 0.0), parallel),
        jnp.pi / 2,
    )
    return PlanarBasis(
        cost_direction, reward_direction, cost_norm, reward_angle, has_cost, reward_norm
    )


def normal_angle(reward_angle: jax.Array, kappa: jax.Array) -> jax.Array:
    """θ′ maximising R‖𝐀‖cos(θ − θ_A) s.t. cos θ ≤ κ, θ ∈ [0, π] (§B.3).

    θ_A if cos θ_A ≤ κ (the constraint is inactive); arccos κ if −1 ≤ κ < cos θ_A (on the
    constraint, the root with sin θ′ ≥ 0); π if κ < −1 (no feasible point in the ball: the
    least-cost direction).
    """
    on_boundary = jnp.where(kappa >= -1.0, jnp.arccos(jnp.clip(kappa, -1.0, 1.0)), jnp.pi)
    return jnp.where(jnp.cos(reward_angle) <= kappa, reward_angle, on_boundary)


def recovery_angle(reward_angle: jax.Array, kappa: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The recovery update's angle α and its case (eq. (6), Fig. 1; §B.5).

    θ_f = arccos(clip(κ, −1, 1)) (π if κ < −1) is the smallest angle into the feasible side,
    θ_A + π/2 the zero-reward line, and α = min(π, max(θ_f, θ_A + π/2)):

    - case 1, α = θ_A + π/2: a feasible 𝐯 without reward loss exists; minimise cost along the
      zero-reward line;
    - case 2, α = θ_f: none exists; the feasible direction that loses the least reward;
    - case 3, α = π: θ_A ≥ π/2, pure cost descent already gains reward.

    Returns:
        ``(α, case)``, case an int32 in {1, 2, 3}.
    """
    feasible = jnp.where(kappa < -1.0, jnp.pi, jnp.arccos(jnp.clip(kappa, -1.0, 1.0)))
    zero_reward = reward_angle + jnp.pi / 2
    angle = jnp.minimum(jnp.pi, jnp.maximum(feasible, zero_reward))
    least_reward = jnp.where(feasible > zero_reward, 2, 1)
    case = jnp.where(reward_angle >= jnp.pi / 2, 3, least_reward).astype(jnp.int32)
    return angle, case


def planar_solution(
    advantages: jax.Array,
    cost_advantages: jax.Array,
    budget: jax.Array,
    radius: jax.Array,
    recovery: jax.Array | bool = False,
) -> PlanarSolution:
    """𝐯 = R(cos θ′ Ã_c + sin θ′ Ã): the E-step without the box (Thm 3.4, §B.3/B.5).

    Args:
        advantages: ``[N]`` centred 𝐀.
        cost_advantages: ``[N]`` centred 𝐀_c.
        budget: D of 𝐯·𝐀_c ≤ D.
        radius: R of ‖𝐯‖ ≤ R (≤ 0 gives 𝐯 = 0).
        recovery: use the recovery rule (a traced bool is fine).

    Returns:
        The solution; 𝐯 sums to zero when the inputs do. With 𝐀_c ≈ 0 it is R 𝐀/‖𝐀‖.
    """
    basis = planar_basis(advantages, cost_advantages)
    radius = jnp.maximum(radius, 0.0)
    kappa = budget / jnp.maximum(radius * basis.cost_norm, jnp.finfo(jnp.float32).tiny)
    normal = normal_angle(basis.reward_angle, kappa)
    recovering, case = recovery_angle(basis.reward_angle, kappa)
    recovery = jnp.asarray(recovery)
    angle = jnp.where(recovery, recovering, normal)
    case = jnp.where(recovery, case, 0)
    on_circle = radius * (
        jnp.cos(angle) * basis.cost_direction + jnp.sin(angle) * basis.reward_direction
    )
    along_reward = radius * _safe_unit(
        advantages, basis.reward_norm, basis.reward_norm > jnp.finfo(jnp.float32).tiny
    )
    v = jnp.where(basis.has_cost, on_circle, along_reward)
    return PlanarSolution(v, angle, kappa, case)


# ---------------------------------------------------------------------------------------------
# Algorithm 1: the masking heuristic (§B.4)
# ---------------------------------------------------------------------------------------------


class _Loop(NamedTuple):
    mask: jax.Array  # [N] bool, entries fixed at b_low
    v: jax.Array  # [N]
    iterations: jax.Array
    solution: PlanarSolution


def e_step(
    advantages: jax.Array,
    cost_advantages: jax.Array,
    budget: jax.Array,
    radius: jax.Array,
    lower_bound: float | jax.Array = -0.4,
    recovery: jax.Array | bool = False,
    *,
    budget_coefficient: str = "unmasked",
    max_iterations: int = 50,
) -> EStepSolution:
    """The E-step's ratio deviations by Algorithm 1 (App. C.1), in the reading of §B.4.

    Starting from the planar solution, repeat while a free entry lies below b_low: add it to
    the mask M (never released, Assumption 3.5), and with U the n = N − |M| free entries

    1. μ_U = −|M| b_low / n, so that Σ𝐯 = 0;
    2. R″² = R² − |M| b_low² − n μ_U² (the free entries' share of ‖𝐯‖², from
       D(v″) = E(v″²) − E(v″)²); 𝐯″ = 0 if R″² ≤ 0;
    3. 𝐀″, 𝐀_c″: 𝐀_U, 𝐀_{c,U} re-centred over U (zero on M);
    4. D″ = D − b_low Σ_M 𝐀_{c,i} − k μ_U mean_U(𝐀_c), k = n (``"unmasked"``, the algebra) or
       |M| (``"masked"``, the paper as printed), see :data:`BUDGET_COEFFICIENTS`;
    5. 𝐯″ = :func:`planar_solution` (𝐀″, 𝐀_c″, D″, R″); 𝐯_U = μ_U + 𝐯″, 𝐯_M = b_low.

    Args:
        advantages: ``[N]`` reward advantages (centred here).
        cost_advantages: ``[N]`` cost advantages (centred here).
        budget: D = N d′.
        radius: R.
        lower_bound: b_low < 0 (ratio ≥ 1 + b_low).
        recovery: the recovery angle rule instead of the normal one.
        budget_coefficient: see :data:`BUDGET_COEFFICIENTS` (static).
        max_iterations: cap on planar solves (static).

    Returns:
        The deviations 𝐯 (targets 1 + 𝐯) and the loop's diagnostics.
    """
    if budget_coefficient not in BUDGET_COEFFICIENTS:
        raise ValueError(
            f"unknown budget_coefficient {budget_coefficient!r}; valid: {list(BUDGET_COEFFICIENTS)}"
        )
    chex.assert_rank([advantages, cost_advantages], 1)
    chex.assert_equal_shape([advantages, cost_advantages])
    advantages = advantages - advantages.mean()
    cost_advantages = cost_advantages - cost_advantages.mean()
    num_samples = advantages.shape[0]
    dtype = advantages.dtype
    lower_bound = jnp.asarray(lower_bound, dtype)
    budget = jnp.asarray(budget, dtype)
    radius = jnp.asarray(radius, dtype)

    def solve(mask: jax.Array) -> tuple[jax.Array, PlanarSolution]:
        free = ~mask
        num_masked = mask.sum().astype(dtype)
        num_free = jnp.maximum(num_samples - num_masked, 1.0)
        shift = -num_masked * lower_bound / num_free
        radius_sq = radius**2 - num_masked * lower_bound**2 - num_free * shift**2
        free_radius = jnp.sqrt(jnp.maximum(radius_sq, 0.0))

        def recentre(x):
            mean = jnp.sum(jnp.where(free, x, 0.0)) / num_free
            return jnp.where(free, x - mean, 0.0)

        masked_cost = jnp.sum(jnp.where(mask, cost_advantages, 0.0))
        free_cost_mean = jnp.sum(jnp.where(free, cost_advantages, 0.0)) / num_free
        coefficient = num_free if budget_coefficient == "unmasked" else num_masked
        free_budget = budget - lower_bound * masked_cost - coefficient * shift * free_cost_mean
        solution = planar_solution(
            recentre(advantages), recentre(cost_advantages), free_budget, free_radius, recovery
        )
        v = jnp.where(mask, lower_bound, shift + solution.v)
        return v, solution

    def body(loop: _Loop) -> _Loop:
        clipped = ~loop.mask & (loop.v < lower_bound)
        mask = loop.mask | clipped
        v, solution = solve(mask)
        return _Loop(mask, v, loop.iterations + 1, solution)

    def cond(loop: _Loop) -> jax.Array:
        violated = jnp.any(~loop.mask & (loop.v < lower_bound))
        return violated & (loop.iterations < max_iterations)

    mask = jnp.zeros(num_samples, bool)
    v, solution = solve(mask)
    loop = jax.lax.while_loop(cond, body, _Loop(mask, v, jnp.int32(1), solution))
    converged = ~jnp.any(~loop.mask & (loop.v < lower_bound))
    return EStepSolution(
        v=loop.v,
        iterations=loop.iterations,
        num_clipped=loop.mask.sum().astype(jnp.int32),
        converged=converged,
        angle=loop.solution.angle,
        kappa=loop.solution.kappa,
        case=loop.solution.case,
    )


def radius_fractions(num_radii: int) -> jax.Array:
    """R_j / R = √(j/J), j = 1..J: the multi-radius recovery targets (§B.5, [OUR CHOICE])."""
    return jnp.sqrt(jnp.arange(1, num_radii + 1, dtype=jnp.float32) / num_radii)


def recovery_mode(
    recovering: jax.Array, episode_cost: jax.Array, cost_limit: jax.Array, switch_cost: jax.Array
) -> jax.Array:
    """The bang-bang switch with hysteresis (§B.5): enter recovery when Ĵ_C > d, leave it only
    once Ĵ_C < d_sw ≤ d (the switch cost, [OUR CHOICE]: the paper gives no value)."""
    return jnp.where(recovering, episode_cost >= switch_cost, episode_cost > cost_limit)
