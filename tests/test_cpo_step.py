"""cpo_step against scipy's SLSQP on random problems covering every case (ALGORITHMS.md §A.2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

from jaxsafe.solvers.cpo_step import cpo_step

NUM_PROBLEMS = 240


def _problem(rng):
    dim = int(rng.integers(3, 7))
    m = rng.normal(size=(dim, dim))
    hessian = m @ m.T / dim + 0.1 * np.eye(dim)
    g, b = rng.normal(size=dim), rng.normal(size=dim)
    c = rng.uniform(-1.5, 1.5)
    max_kl = rng.uniform(0.005, 0.2)
    return hessian, g, b, c, max_kl


def _slsqp(hessian, g, b, c, max_kl):
    constraints = [
        {"type": "ineq", "fun": lambda x: -(c + b @ x), "jac": lambda x: -b},
        {
            "type": "ineq",
            "fun": lambda x: max_kl - 0.5 * x @ hessian @ x,
            "jac": lambda x: -hessian @ x,
        },
    ]
    result = optimize.minimize(
        lambda x: -g @ x,
        np.zeros_like(g),
        jac=lambda x: -g,
        constraints=constraints,
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 500},
    )
    return result.x


@pytest.fixture(scope="module")
def solved():
    rng = np.random.default_rng(0)
    problems = [_problem(rng) for _ in range(NUM_PROBLEMS)]

    @jax.jit
    def solve(hessian, g, b, c, max_kl):
        step, info = cpo_step(g, b, c, lambda v: hessian @ v, max_kl, cg_iterations=20)
        return step, info

    results = []
    for hessian, g, b, c, max_kl in problems:
        padded = [np.zeros((6, 6)), np.zeros(6), np.zeros(6)]  # one compile for every size
        dim = g.size
        padded[0][:dim, :dim], padded[1][:dim], padded[2][:dim] = hessian, g, b
        padded[0][dim:, dim:] = np.eye(6 - dim)
        step, info = solve(*(jnp.asarray(x, jnp.float32) for x in padded), c, max_kl)
        results.append((np.asarray(step, np.float64)[:dim], jax.device_get(info)))
    return problems, results


def test_every_case_occurs(solved):
    _, results = solved
    cases = np.array([int(info.case) for _, info in results])
    for case in (0, 1, 2, 3):
        assert (cases == case).sum() >= 10, np.bincount(cases)


def test_feasible_cases_match_slsqp(solved):
    problems, results = solved
    checked = 0
    for (hessian, g, b, c, max_kl), (step, info) in zip(problems, results, strict=True):
        if int(info.case) == 0:
            continue
        reference = _slsqp(hessian, g, b, c, max_kl)
        scale = max(1.0, abs(g @ reference))
        assert abs(g @ step - g @ reference) <= 1e-3 * scale, (
            int(info.case),
            g @ step,
            g @ reference,
        )
        assert c + b @ step <= 1e-3 * max(1.0, abs(c)), int(info.case)
        assert 0.5 * step @ hessian @ step <= max_kl * (1 + 1e-3), int(info.case)
        checked += 1
    assert checked >= 200


def test_infeasible_case_recovers_along_the_cost_gradient(solved):
    problems, results = solved
    for (hessian, _, b, _, max_kl), (step, info) in zip(problems, results, strict=True):
        if int(info.case) == 0:
            w = np.linalg.solve(hessian, b)
            expected = -np.sqrt(2 * max_kl / (b @ w)) * w
            np.testing.assert_allclose(step, expected, rtol=2e-3, atol=1e-5)


def test_no_cost_gradient_is_the_trpo_step():
    hessian = jnp.diag(jnp.array([1.0, 2.0, 4.0]))
    g = jnp.array([1.0, -1.0, 2.0])
    step, info = cpo_step(g, jnp.zeros(3), -1.0, lambda v: hessian @ v, 0.01, cg_iterations=5)
    assert int(info.case) == 4
    natural = jnp.linalg.solve(hessian, g)
    np.testing.assert_allclose(step, np.sqrt(2 * 0.01 / (g @ natural)) * natural, rtol=1e-4)
