"""CPPO-EM's E-step against scipy on random problems, constructed cases, jit and vmap.

References (independent of the planar closed form):

- scipy's SLSQP on the full QP max 𝐯·𝐀 s.t. 𝐯·𝐀_c ≤ D, ‖𝐯‖² ≤ R², Σ𝐯 = 0, 𝐯 ≥ b_low
  (N ≤ 32: SLSQP's dense subproblem makes N = 1000 take minutes per instance and often stop
  with status 8);
- at every size (N up to 1000) the Lagrange dual of the same QP, minimised by scipy
  (L-BFGS-B over (λ, ν, η), the inner minimum over the box in closed form): by weak duality
  any dual point bounds the optimum from above, so "heuristic ≥ bound − 1e-3 |bound|" certifies
  the heuristic within 1e-3 of the optimum whatever the dual solver's accuracy.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from jaxsafe.solvers.cppo_e_step import (
    KL_TO_VARIANCE,
    e_step,
    normal_angle,
    per_sample_budget,
    planar_solution,
    radius,
    radius_fractions,
    recovery_angle,
    recovery_mode,
)

SIZES_SLSQP = (8, 16, 32)
SIZES_DUAL = (8, 100, 300, 1000)


# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------


def dual_bound(objective, cost, budget, radius_, lower, with_cost=True):
    """min over (λ ≥ 0, ν, η > 0) of −g: an upper bound of max 𝐯·objective on the QP's set."""

    def h(x):
        lam, nu, eta = x
        lam = lam if with_cost else 0.0
        v = np.maximum(lower, (objective - lam * cost - nu) / (2.0 * eta))
        g = eta * v @ v + (lam * cost + nu - objective) @ v - lam * budget - eta * radius_**2
        grad = np.array([(v @ cost - budget) if with_cost else 0.0, v.sum(), v @ v - radius_**2])
        return -g, -grad

    best = math.inf
    for x0 in ([0.0, 0.0, np.linalg.norm(objective) / (2 * radius_) + 1e-3], [1.0, 0.0, 1.0]):
        result = optimize.minimize(
            h,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(0.0, None), (None, None), (1e-12, None)],
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
        )
        best = min(best, float(result.fun))
    return best


def slsqp(objective, cost, budget, radius_, lower=None):
    """SLSQP on the primal QP (``lower=None``: without the box)."""
    n = objective.size
    constraints = [
        {"type": "ineq", "fun": lambda v: budget - v @ cost, "jac": lambda v: -cost},
        {"type": "ineq", "fun": lambda v: radius_**2 - v @ v, "jac": lambda v: -2.0 * v},
        {"type": "eq", "fun": lambda v: v.sum(), "jac": lambda v: np.ones(n)},
    ]
    result = optimize.minimize(
        lambda v: -v @ objective,
        np.zeros(n),
        jac=lambda v: -objective,
        constraints=constraints,
        bounds=None if lower is None else [(lower, None)] * n,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    return result.x


def _feasible(v, cost, budget, radius_, lower, tol):
    return (
        abs(v.sum()) <= tol * radius_ * math.sqrt(v.size)
        and v @ v <= radius_**2 * (1 + tol)
        and v @ cost <= budget + tol * radius_ * np.linalg.norm(cost)
        and (lower is None or v.min() >= lower - tol)
    )


def random_problem(rng, n):
    """Heavy-tailed, correlated advantages; a budget D of either sign that the box allows."""
    advantages = rng.standard_t(3, n)
    cost = rng.uniform(-1.0, 1.0) * advantages + rng.standard_t(3, n)
    advantages, cost = advantages - advantages.mean(), cost - cost.mean()
    variance = rng.choice([0.02 / KL_TO_VARIANCE, 0.2])
    radius_ = math.sqrt(n * variance)
    lower = float(rng.choice([-0.4, -0.6, -0.999]))
    least_cost = -dual_bound(-cost, cost, 0.0, radius_, lower, with_cost=False)
    budget = least_cost + rng.uniform(0.1, 1.1) * (radius_ * np.linalg.norm(cost) - least_cost)
    return advantages, cost, budget, radius_, lower


_e_step = jax.jit(e_step, static_argnames=("budget_coefficient", "max_iterations"))


def _solve(problem, **kwargs):
    advantages, cost, budget, radius_, lower = problem
    solution = _e_step(
        jnp.asarray(advantages, jnp.float32),
        jnp.asarray(cost, jnp.float32),
        budget,
        radius_,
        lower,
        **kwargs,
    )
    return np.asarray(solution.v, np.float64), jax.device_get(solution)


# ---------------------------------------------------------------------------------------------
# The masking heuristic against the full QP
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def solved():
    rng = np.random.default_rng(0)
    sizes = [n for n in SIZES_DUAL for _ in range(60 if n == 8 else 30)]
    sizes += [n for n in SIZES_SLSQP for _ in range(40)]
    problems = [random_problem(rng, n) for n in sizes]
    return problems, [_solve(problem) for problem in problems]


def test_instances_cover_sizes_signs_and_clipping(solved):
    problems, results = solved
    assert len(problems) >= 200
    assert max(p[0].size for p in problems) == 1000
    budgets = np.array([p[2] for p in problems])
    assert (budgets < 0).sum() >= 30 and (budgets > 0).sum() >= 30
    clipped = np.array([int(info.num_clipped) for _, info in results])
    assert (clipped > 0).sum() >= 100 and (clipped == 0).sum() >= 10
    assert all(bool(info.converged) for _, info in results)


def test_heuristic_is_feasible_within_float32_tolerance(solved):
    problems, results = solved
    for (_, cost, budget, radius_, lower), (v, _) in zip(problems, results, strict=True):
        assert abs(v.sum()) <= 1e-5 * radius_ * math.sqrt(v.size)
        assert v @ v <= radius_**2 * (1 + 1e-5)
        assert v @ cost <= budget + 1e-5 * radius_ * np.linalg.norm(cost)
        assert v.min() >= lower - 1e-6


def test_heuristic_is_within_1e3_of_the_dual_bound(solved):
    problems, results = solved
    gaps = []
    for problem, (v, _) in zip(problems, results, strict=True):
        bound = dual_bound(*problem)
        objective = v @ problem[0]
        gaps.append((bound - objective) / abs(bound))
        assert objective >= bound - 1e-3 * abs(bound), (problem[0].size, bound, objective)
    assert np.median(gaps) < 1e-5


def test_heuristic_matches_slsqp_on_the_full_qp(solved):
    problems, results = solved
    compared = 0
    for problem, (v, _) in zip(problems, results, strict=True):
        if problem[0].size not in SIZES_SLSQP:
            continue
        reference = slsqp(*problem)
        if not _feasible(reference, *problem[1:], tol=1e-6):
            continue  # SLSQP stopped outside the set (rare); the dual test covers the instance
        compared += 1
        best = reference @ problem[0]
        assert v @ problem[0] >= best - 1e-3 * abs(best)
    assert compared >= 100


# ---------------------------------------------------------------------------------------------
# The planar closed form (Thm 3.4)
# ---------------------------------------------------------------------------------------------


def test_planar_closed_form_is_the_unboxed_qp_optimum():
    rng = np.random.default_rng(1)
    solve = jax.jit(planar_solution)
    for _ in range(60):
        n = int(rng.choice([5, 12, 30]))
        advantages = rng.normal(size=n)
        cost = rng.normal(size=n) + rng.normal() * rng.normal(size=n)
        advantages, cost = advantages - advantages.mean(), cost - cost.mean()
        radius_ = rng.uniform(0.2, 3.0)
        budget = rng.uniform(-0.95, 1.2) * radius_ * np.linalg.norm(cost)
        v = np.asarray(solve(jnp.float32(advantages), jnp.float32(cost), budget, radius_).v)
        reference = slsqp(advantages, cost, budget, radius_)
        assert _feasible(v, cost, budget, radius_, None, tol=1e-5)
        best = reference @ advantages
        np.testing.assert_allclose(v @ advantages, best, rtol=1e-4, atol=1e-5)
        # On the circle of radius R, in span(𝐀_c, 𝐀).
        np.testing.assert_allclose(np.linalg.norm(v), radius_, rtol=1e-5)
        basis, *_ = np.linalg.lstsq(np.stack([cost, advantages], 1), v, rcond=None)
        np.testing.assert_allclose(np.stack([cost, advantages], 1) @ basis, v, atol=1e-5)


def test_unclipped_heuristic_is_the_planar_solution():
    rng = np.random.default_rng(2)
    advantages, cost = rng.normal(size=50), rng.normal(size=50)
    advantages, cost = advantages - advantages.mean(), cost - cost.mean()
    args = (jnp.float32(advantages), jnp.float32(cost), 0.3, 0.5)
    solution = e_step(*args, lower_bound=-0.999)
    assert int(solution.iterations) == 1 and int(solution.num_clipped) == 0
    np.testing.assert_allclose(solution.v, planar_solution(*args).v, atol=1e-6)


def _plane(n=6):
    """Two orthonormal zero-mean vectors e1, e2."""
    rng = np.random.default_rng(3)
    basis = rng.normal(size=(n, 2))
    basis -= basis.mean(0)
    q, _ = np.linalg.qr(basis)
    return q[:, 0], q[:, 1]


@pytest.mark.parametrize(
    ("reward_angle", "kappa", "angle", "case"),
    [
        (math.pi / 6, 0.5, math.pi / 6 + math.pi / 2, 1),  # zero-reward line is feasible
        (math.pi / 6, -0.9, math.acos(-0.9), 2),  # only with reward loss: θ_f
        (math.pi / 6, -1.5, math.pi, 2),  # no feasible point in the ball: cost descent
        (2 * math.pi / 3, 0.5, math.pi, 3),  # θ_A ≥ π/2: cost descent gains reward
        (0.55 * math.pi, -0.2, math.pi, 3),
    ],
)
def test_recovery_cases_give_the_angle_of_b5(reward_angle, kappa, angle, case):
    e1, e2 = _plane()
    cost_norm, radius_ = 2.0, 0.7
    cost = cost_norm * e1
    advantages = 3.0 * (math.cos(reward_angle) * e1 + math.sin(reward_angle) * e2)
    budget = kappa * radius_ * cost_norm
    solution = planar_solution(jnp.float32(advantages), jnp.float32(cost), budget, radius_, True)
    assert int(solution.case) == case
    np.testing.assert_allclose(float(solution.angle), angle, atol=1e-5)
    expected = radius_ * (math.cos(angle) * e1 + math.sin(angle) * e2)
    np.testing.assert_allclose(solution.v, expected, atol=1e-5)
    got_angle, got_case = recovery_angle(jnp.float32(reward_angle), jnp.float32(kappa))
    assert int(got_case) == case
    np.testing.assert_allclose(float(got_angle), angle, atol=1e-6)


def test_normal_angle_cases():
    angle = lambda a, k: float(normal_angle(jnp.float32(a), jnp.float32(k)))  # noqa: E731
    assert angle(math.pi / 3, 0.6) == pytest.approx(math.pi / 3)  # inactive: cos θ_A = 0.5
    assert angle(math.pi / 3, 0.2) == pytest.approx(math.acos(0.2))
    assert angle(math.pi / 3, -1.3) == pytest.approx(math.pi)


def test_degenerate_inputs():
    e1, e2 = _plane()
    solve = lambda a, c, d, r, rec=False: np.asarray(  # noqa: E731
        planar_solution(jnp.float32(a), jnp.float32(c), d, r, rec).v
    )
    # No cost signal: follow the reward.
    np.testing.assert_allclose(solve(e2, 0 * e1, -1.0, 0.5), 0.5 * e2, atol=1e-6)
    np.testing.assert_allclose(solve(e2, 0 * e1, -1.0, 0.5, True), 0.5 * e2, atol=1e-6)
    # Nothing at all, or no radius: no change.
    np.testing.assert_array_equal(solve(0 * e1, 0 * e1, 1.0, 0.5), 0.0)
    np.testing.assert_array_equal(solve(e2, e1, 1.0, 0.0), 0.0)
    # Reward parallel to cost: the budget's boundary point, with the circle's objective.
    v = solve(2.0 * e1, e1, 0.25, 0.5)
    np.testing.assert_allclose(v, 0.25 * e1, atol=1e-6)
    # No reward signal: the least-norm point of the budget, or pure cost descent in recovery.
    np.testing.assert_allclose(solve(0 * e1, e1, 0.3, 0.5), 0.0, atol=1e-6)
    np.testing.assert_allclose(solve(0 * e1, e1, -0.2, 0.5), -0.2 * e1, atol=1e-6)
    np.testing.assert_allclose(solve(0 * e1, e1, 0.3, 0.5, True), -0.5 * e1, atol=1e-6)
    # One sample: the only zero-sum deviation is 0.
    single = e_step(jnp.ones(1), jnp.ones(1), 0.0, 1.0)
    np.testing.assert_array_equal(single.v, 0.0)
    # A radius the clipped entries exhaust: the free entries only carry the mean shift.
    spiky = jnp.zeros(10).at[0].set(-100.0).at[1].set(-90.0)
    solution = e_step(spiky, jnp.zeros(10), 1.0, 0.85, lower_bound=-0.6)
    v = np.asarray(solution.v)
    assert bool(solution.converged) and v.min() >= -0.6 - 1e-6
    np.testing.assert_allclose(v.sum(), 0.0, atol=1e-5)
    assert v @ v <= 0.85**2 + 1e-5


def test_budget_coefficient_switch():
    """The paper-literal M coefficient changes the budget once entries are clipped; only the
    default (n) keeps 𝐯·𝐀_c ≤ D exactly."""
    rng = np.random.default_rng(4)
    differ, violated = 0, 0
    for _ in range(30):
        problem = random_problem(rng, 64)
        v, info = _solve(problem)
        literal, _ = _solve(problem, budget_coefficient="masked")
        if int(info.num_clipped) == 0:
            np.testing.assert_array_equal(v, literal)
            continue
        differ += not np.allclose(v, literal)
        violated += literal @ problem[1] > problem[2] + 1e-4 * abs(problem[2])
    assert differ >= 5 and violated >= 1
    with pytest.raises(ValueError, match="budget_coefficient"):
        e_step(jnp.ones(3), jnp.ones(3), 0.0, 1.0, budget_coefficient="m")


# ---------------------------------------------------------------------------------------------
# Scales, switching, jit and vmap
# ---------------------------------------------------------------------------------------------


def test_radius_and_budget_scales():
    delta = 0.02 / (2 * math.log(2) - 1)
    assert delta == pytest.approx(0.051774, abs=1e-6)
    assert float(radius(1000, 0.02)) == pytest.approx(math.sqrt(1000 * delta), rel=1e-6)
    assert float(radius(1000, 0.02, "2n_delta")) == pytest.approx(math.sqrt(2000 * delta), 1e-6)
    with pytest.raises(ValueError, match="radius mode"):
        radius(10, 0.02, "2n")
    assert float(per_sample_budget(5.0, 3.0, 50.0, 0.99)) == pytest.approx(0.04)
    assert float(per_sample_budget(5.0, 3.0, 50.0, 0.99, "discounted")) == pytest.approx(0.02)
    np.testing.assert_allclose(radius_fractions(4), np.sqrt([0.25, 0.5, 0.75, 1.0]), rtol=1e-6)


def test_recovery_hysteresis():
    mode = lambda on, cost: bool(recovery_mode(jnp.bool_(on), cost, 5.0, 4.5))  # noqa: E731
    assert not mode(False, 5.0) and mode(False, 5.1)  # enter above d
    assert mode(True, 4.8) and mode(True, 4.5) and not mode(True, 4.4)  # leave below d_sw


def test_jit_and_vmap_equal_one_by_one():
    rng = np.random.default_rng(5)
    problems = [random_problem(rng, 40) for _ in range(6)]
    stacked = [jnp.asarray(np.stack([p[i] for p in problems]), jnp.float32) for i in range(5)]
    recovery = jnp.array([False, True] * 3)
    batched = jax.jit(jax.vmap(e_step))(*stacked, recovery)
    for i, problem in enumerate(problems):
        one = e_step(*(jnp.float32(x) for x in problem), recovery=bool(recovery[i]))
        np.testing.assert_allclose(batched.v[i], one.v, atol=1e-6)
        assert int(batched.iterations[i]) == int(one.iterations)
        assert int(batched.num_clipped[i]) == int(one.num_clipped)
    # Several radii at once (the multi-radius recovery targets).
    advantages, cost, budget, radius_, lower = (jnp.float32(x) for x in problems[0])
    radii = radius_ * radius_fractions(4)
    targets = jax.vmap(lambda r: e_step(advantages, cost, budget, r, lower, True).v)(radii)
    norms = np.linalg.norm(np.asarray(targets), axis=1)
    np.testing.assert_allclose(norms, np.asarray(radii), rtol=1e-4)
