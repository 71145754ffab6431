"""The trust-region family's update (VARCPO.md §3): moment estimates, scale matching, VaR-CPO's
linearisation and adaptive trust region against plain Python, and a short run of each algorithm.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from jaxsafe.algorithms import cpo_update, on_policy, trpo_lag, varcpo
from jaxsafe.episode_statistics import EpisodeRecord
from jaxsafe.rollout import Trajectory
from jaxsafe.solvers import cpo_step
from jaxsafe.train import make_train

GAMMA = 0.9
ALPHA = 0.1
THRESHOLD = 3.0
BETA = 1.0 / ALPHA - 1.0

# ----------------------------------------------------------------------------------------------
# moment_estimates


def _batch(rng, num_steps, num_envs, done_probability):
    """Random costs and episode ends; C_t, γ^t and the records from a plain loop.

    Environments start mid-episode (a random C_0 and γ^{t_0}), as after an earlier batch.
    """
    cost = rng.exponential(1.0, size=(num_steps, num_envs))
    terminated = rng.random((num_steps, num_envs)) < done_probability
    truncated = rng.random((num_steps, num_envs)) < done_probability / 2
    cost_so_far = np.zeros_like(cost)
    discount_t = np.zeros_like(cost)
    record_cost = rng.normal(size=cost.shape) * 100.0  # junk where no episode ended
    done = terminated | truncated
    for n in range(num_envs):
        total, factor = rng.exponential(2.0), GAMMA ** rng.integers(0, 5)
        for t in range(num_steps):
            cost_so_far[t, n], discount_t[t, n] = total, factor
            total += factor * cost[t, n]
            factor *= GAMMA
            if done[t, n]:
                record_cost[t, n] = total
                total, factor = 0.0, 1.0
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    zeros = jnp.zeros(cost.shape)
    trajectory = Trajectory(
        observation=zeros,
        action=zeros,
        log_prob=zeros,
        reward=zeros,
        cost=f32(cost),
        terminated=jnp.asarray(terminated),
        truncated=jnp.asarray(truncated),
        next_observation=zeros,
        cost_so_far=f32(cost_so_far),
        cost_discount=f32(discount_t),
    )
    records = EpisodeRecord(
        episode_return=zeros,
        discounted_return=zeros,
        episode_cost=zeros,
        discounted_cost=f32(record_cost),
        length=zeros,
        counters={},
        done=jnp.asarray(done),
    )
    values = [f32(rng.normal(3.0, 1.0, size=cost.shape)) for _ in range(4)]
    return trajectory, records, values


def _reference_moments(trajectory, records, values):
    """(μ̂, Ĵ_ĉ, count) of each estimator from per-element Python loops (float64)."""
    cost, c_t, g_t, terminated, truncated, done, episode_cost = (
        np.asarray(x, np.float64)
        for x in (
            trajectory.cost,
            trajectory.cost_so_far,
            trajectory.cost_discount,
            trajectory.terminated,
            trajectory.truncated,
            records.done,
            records.discounted_cost,
        )
    )
    cost_values, next_cost_values, augmented_values, next_augmented_values = (
        np.asarray(v, np.float64) for v in values
    )
    num_steps, num_envs = cost.shape
    prefix = lambda c: BETA * c**2 + 2 * THRESHOLD * c  # noqa: E731 (β C² + 2dC)
    finished_mean, finished_aug, cut_mean, cut_aug, per_mean, per_aug = ([] for _ in range(6))
    for n in range(num_envs):
        for t in range(num_steps):
            if done[t, n]:
                finished_mean.append(episode_cost[t, n])
                finished_aug.append(prefix(episode_cost[t, n]))
            per_mean.append(c_t[t, n] + g_t[t, n] * cost_values[t, n])
            per_aug.append(prefix(c_t[t, n]) + g_t[t, n] * augmented_values[t, n])
        last = num_steps - 1
        if not (terminated[last, n] or truncated[last, n]):
            realised = c_t[last, n] + g_t[last, n] * cost[last, n]  # C' after the last step
            discount = g_t[last, n] * GAMMA  # γ^{t'}
            cut_mean.append(realised + discount * next_cost_values[last, n])
            cut_aug.append(prefix(realised) + discount * next_augmented_values[last, n])
    mean = lambda xs: sum(xs) / max(len(xs), 1)  # noqa: E731
    return {
        "segments": (
            mean(finished_mean + cut_mean),
            mean(finished_aug + cut_aug),
            len(finished_mean + cut_mean),
        ),
        "critic": (mean(per_mean), mean(per_aug), len(per_mean)),
        "episodes": (mean(finished_mean), mean(finished_aug), len(finished_mean)),
    }


_moments = jax.jit(on_policy.moment_estimates, static_argnums=(6,))


@pytest.mark.parametrize(
    ("seed", "done_probability"), [(0, 0.1), (1, 0.3), (2, 0.0), (3, 0.02), (4, 0.6)]
)
def test_moment_estimates_match_python_loops(seed, done_probability):
    rng = np.random.default_rng(seed)
    trajectory, records, values = _batch(rng, 12, 5, done_probability)
    estimates = _moments(
        trajectory, records, *values, GAMMA, jnp.float32(ALPHA), jnp.float32(THRESHOLD)
    )
    reference = _reference_moments(trajectory, records, values)
    if done_probability == 0.0:
        assert reference["episodes"][2] == 0 and reference["segments"][2] == 5
    for name in on_policy.MOMENT_ESTIMATORS:
        mean, augmented, count = estimates[name]
        expected_mean, expected_augmented, expected_count = reference[name]
        np.testing.assert_allclose(mean, expected_mean, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(
            augmented, expected_augmented, rtol=1e-5, atol=1e-5, err_msg=name
        )
        assert int(count) == expected_count, name


def test_moment_estimates_without_augmented_critics_report_zero():
    trajectory, records, values = _batch(np.random.default_rng(5), 12, 5, 0.2)
    estimates = on_policy.moment_estimates(
        trajectory, records, values[0], values[1], None, None, GAMMA, ALPHA, THRESHOLD
    )
    reference = _reference_moments(trajectory, records, values)
    for name in on_policy.MOMENT_ESTIMATORS:
        np.testing.assert_allclose(estimates[name][0], reference[name][0], rtol=1e-5)
        assert float(estimates[name][1]) == 0.0


def test_moment_estimates_hand_worked():
    """Two envs, three steps, γ = 0.5, d = 1, α = 0.5 (β = 1).

    Env 0 ends an episode at t = 1 with C = 1 + 0.5·2 = 2 (C_0 = 0), then is cut after t = 2
    with C' = 4 and γ^{t'} = 0.5: segment C' + 0.5 V = 4 + 0.5·10 = 9. Env 1 ends at t = 2
    with C = 3 + 0.25·4 = 4 (C_0 = 3, γ^{t_0} = 0.25). Segments: (2 + 9 + 4) / 3 = 5;
    Ĵ_ĉ: (β·4 + 2·2 = 8, β·16 + 2·4 + 0.5·20 = 34, 16 + 8 = 24) / 3 = 22.
    """
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    terminated = jnp.array([[False, False], [True, False], [False, True]])
    zeros = jnp.zeros((3, 2))
    trajectory = Trajectory(
        observation=zeros,
        action=zeros,
        log_prob=zeros,
        reward=zeros,
        cost=f([[1.0, 0.0], [2.0, 0.0], [4.0, 4.0]]),
        terminated=terminated,
        truncated=jnp.zeros((3, 2), bool),
        next_observation=zeros,
        cost_so_far=f([[0.0, 3.0], [1.0, 3.0], [0.0, 3.0]]),
        cost_discount=f([[1.0, 1.0], [0.5, 0.5], [1.0, 0.25]]),
    )
    records = EpisodeRecord(zeros, zeros, zeros, f([[0, 0], [2, 0], [0, 4]]), zeros, {}, terminated)
    next_values = f([[0.0, 0.0], [0.0, 0.0], [10.0, 99.0]])
    next_augmented = f([[0.0, 0.0], [0.0, 0.0], [20.0, 99.0]])
    estimates = on_policy.moment_estimates(
        trajectory, records, zeros, next_values, zeros, next_augmented, 0.5, 0.5, 1.0
    )
    np.testing.assert_allclose(estimates["segments"], [5.0, 22.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(estimates["episodes"], [3.0, 16.0, 2.0], rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# effective_horizon


@pytest.mark.parametrize(
    ("length", "discount", "matching", "expected"),
    [
        (37.0, 1.0, "horizon", 37.0),
        (0.3, 1.0, "horizon", 1.0),  # never below one step
        (0.0, 0.99, "horizon", 1.0),
        (37.0, 0.99, "horizon", 37.0),
        (250.0, 0.99, "horizon", 100.0),  # capped at 1 / (1 − γ)
        (5000.0, 0.999, "horizon", 1000.0),
        (250.0, 0.99, "none", 1.0),
        (250.0, 1.0, "none", 1.0),
    ],
)
def test_effective_horizon(length, discount, matching, expected):
    horizon = cpo_update.effective_horizon(jnp.float32(length), discount, matching)
    np.testing.assert_allclose(horizon, expected, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# VaR-CPO's linearisation


def _varcpo_algo(**overrides):
    algo = varcpo.default_config()
    algo.cost_limit, algo.alpha, algo.alpha_train = 15.0, 0.05, 0.1
    for name, value in overrides.items():
        algo[name] = value
    return algo


def _linearise(algo, mean_cost, augmented_return, recovering=False, seed=0):
    rng = np.random.default_rng(seed)
    advantages = jnp.asarray(rng.normal(size=(3, 6, 4)), jnp.float32)
    episode_costs = jnp.asarray(rng.uniform(0, 30, size=(6, 4)), jnp.float32)
    done = jnp.asarray(rng.random((6, 4)) < 0.4)
    records = EpisodeRecord(*(jnp.zeros((6, 4)),) * 3, episode_costs, jnp.zeros((6, 4)), {}, done)
    batch = on_policy.Batch(
        trajectory=None,
        records=records,
        advantages=advantages,
        episode={},
        mean_cost=jnp.float32(mean_cost),
        augmented_return=jnp.float32(augmented_return),
    )
    constraint = varcpo.constraint(algo)
    state, linearisation, metrics = constraint.linearise(
        varcpo.VaRState(jnp.bool_(recovering)), constraint.hyperparams, batch
    )
    return state, linearisation, metrics, batch


def _augmented_return(mean, std, d=15.0, alpha=0.05):
    """Ĵ_ĉ = β E[C²] + 2dμ for a cost of this mean and standard deviation."""
    return (1 / alpha - 1) * (std**2 + mean**2) + 2 * d * mean


@pytest.mark.parametrize(("mean", "std"), [(5.0, 3.0), (12.0, 0.5), (0.0, 1.0), (14.9, 4.0)])
def test_cantelli_mode_weights_value_and_metrics(mean, std):
    d, alpha = 15.0, 0.05
    beta = 1 / alpha - 1
    augmented = _augmented_return(mean, std)
    state, lin, metrics, batch = _linearise(_varcpo_algo(), mean, augmented)

    assert not bool(state.recovering) and float(metrics["constraint/recovery"]) == 0.0
    np.testing.assert_allclose(lin.constraint_weights, [0.0, -2 * mean / alpha, 1.0], rtol=1e-6)
    value = augmented - d**2 - mean**2 / alpha
    np.testing.assert_allclose(lin.constraint_value, value, rtol=1e-4, atol=1e-3)
    # c = βσ² − (d − μ)² (the bound in closed form): c ≤ 0 ⇔ Cantelli's bound ≤ α.
    np.testing.assert_allclose(value, beta * std**2 - (d - mean) ** 2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(metrics["constraint/cantelli_value"], value, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(metrics["constraint/cost_std"], std, rtol=1e-3)
    np.testing.assert_allclose(
        metrics["constraint/cantelli_bound"], std**2 / (std**2 + (d - mean) ** 2), rtol=1e-3
    )
    reward = np.asarray(batch.advantages[0], np.float64)
    np.testing.assert_allclose(
        lin.objective_advantage, (reward - reward.mean()) / reward.std(), rtol=1e-4, atol=1e-5
    )
    done = np.asarray(batch.records.done)
    exceeded = (np.asarray(batch.records.discounted_cost)[done] >= d).mean()
    np.testing.assert_allclose(metrics["constraint/var_exceedance"], exceeded, rtol=1e-6)


@pytest.mark.parametrize("mean", [15.0, 15.5, 40.0])
def test_recovery_when_the_mean_reaches_the_threshold(mean):
    state, lin, metrics, _ = _linearise(_varcpo_algo(), mean, _augmented_return(mean, 2.0))
    assert bool(state.recovering) and float(metrics["constraint/recovery"]) == 1.0
    np.testing.assert_array_equal(lin.constraint_weights, [0.0, 1.0, 0.0])
    np.testing.assert_allclose(lin.constraint_value, mean - 15.0, rtol=1e-6)
    assert np.isinf(lin.violation_budget)
    assert float(metrics["constraint/cantelli_bound"]) == 1.0  # the bound is void


@pytest.mark.parametrize(
    ("hysteresis", "was_recovering", "mean", "recovers"),
    [
        (0.2, True, 13.0, True),  # 13 ≥ (1 − 0.2)·15 = 12: stays in recovery
        (0.2, True, 12.0, True),
        (0.2, True, 11.9, False),  # below 12: leaves it
        (0.2, False, 13.0, False),  # not recovering before: Cantelli while μ < d
        (0.2, False, 15.0, True),
        (0.0, True, 14.99, False),  # no hysteresis: leaves as soon as μ < d
    ],
)
def test_recovery_hysteresis(hysteresis, was_recovering, mean, recovers):
    algo = _varcpo_algo(recovery_hysteresis=hysteresis)
    state, lin, _, _ = _linearise(algo, mean, _augmented_return(mean, 1.0), was_recovering)
    assert bool(state.recovering) == recovers
    expected_weights = [0.0, 1.0, 0.0] if recovers else [0.0, -2 * mean / 0.05, 1.0]
    np.testing.assert_allclose(lin.constraint_weights, expected_weights, rtol=1e-6)


@pytest.mark.parametrize(
    ("mean", "std", "alpha_train"), [(5.0, 3.0, 0.1), (10.0, 1.0, 0.2), (2.0, 0.5, 0.06)]
)
def test_violation_budget_reaches_the_training_tolerance(mean, std, alpha_train):
    """Δ = m²(α_train β/(1 − α_train) − 1) − c; at c + Δ Cantelli's bound is exactly α_train."""
    d, beta = 15.0, 19.0
    algo = _varcpo_algo(alpha_train=alpha_train)
    _, lin, _, _ = _linearise(algo, mean, _augmented_return(mean, std))
    margin = d - mean
    value = beta * std**2 - margin**2
    tolerated = margin**2 * (alpha_train * beta / (1 - alpha_train) - 1)
    np.testing.assert_allclose(lin.violation_budget, tolerated - value, rtol=1e-4)
    # Independently: the variance at which c reaches c + Δ puts the bound at α_train.
    variance = (value + float(lin.violation_budget) + margin**2) / beta
    np.testing.assert_allclose(variance / (variance + margin**2), alpha_train, rtol=1e-4)


def test_no_violation_budget_beyond_the_training_tolerance():
    # σ = 6 at μ = 5: the bound 36 / 136 ≈ 0.26 already exceeds α_train = 0.1.
    _, lin, _, _ = _linearise(_varcpo_algo(), 5.0, _augmented_return(5.0, 6.0))
    assert np.isinf(lin.violation_budget)


# ----------------------------------------------------------------------------------------------
# TRPO-Lagrangian: the penalised objective and no constraint in the step (CPO's case 4)


@pytest.mark.parametrize(("initial", "mean_cost"), [(0.5, 30.0), (0.5, 20.0), (0.0, 10.0)])
def test_trpo_lag_penalised_objective_and_case_four(initial, mean_cost):
    algo = trpo_lag.default_config()
    algo.cost_limit, algo.lagrange_init = 25.0, initial
    algo.lagrange_optimizer, algo.lagrange_learning_rate = "sgd", 0.1
    constraint = trpo_lag.constraint(algo)
    rng = np.random.default_rng(1)
    advantages = jnp.asarray(rng.normal(1.0, 2.0, size=(2, 6, 4)), jnp.float32)
    batch = on_policy.Batch(None, None, advantages, {}, jnp.float32(mean_cost), jnp.float32(0))
    state, lin, metrics = constraint.linearise(
        constraint.init(constraint.hyperparams), constraint.hyperparams, batch
    )
    lam = max(0.0, initial + 0.1 * (mean_cost - 25.0))  # projected SGD ascent
    np.testing.assert_allclose(metrics["constraint/multiplier"], lam, rtol=1e-6)
    np.testing.assert_allclose(state.multiplier.value, lam, rtol=1e-6)
    reward, cost = (np.asarray(a, np.float64) for a in advantages)
    expected = ((reward - reward.mean()) / reward.std() - lam * (cost - cost.mean())) / (1 + lam)
    np.testing.assert_allclose(lin.objective_advantage, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(lin.constraint_weights, [0.0, 0.0])
    assert float(lin.constraint_value) < 0 and np.isinf(lin.violation_budget)
    # b = Σ_k w_k ∇L_k = 0 and c < 0: the shared solver takes the plain TRPO step.
    g = jnp.asarray(rng.normal(size=5), jnp.float32)
    b = jnp.tensordot(lin.constraint_weights, jnp.ones((2, 5)), axes=1)
    step, info = cpo_step(g, b, lin.constraint_value / 7.0, lambda v: 2.0 * v, 0.01)
    assert int(info.case) == 4
    np.testing.assert_allclose(step, g / np.linalg.norm(g) * np.sqrt(2 * 0.01 / 2.0), rtol=1e-4)


# ----------------------------------------------------------------------------------------------
# Short runs of CPO and of VaR-CPO with the adaptive trust region (one program each)


def _config(name, **overrides):
    config = tiny_config(name, updates=6)
    config.env.kwargs.max_steps_in_episode = 8  # every batch holds finished episodes
    for field, value in overrides.items():
        config.algo[field] = value
    return config


@functools.cache
def _run(name, **overrides):
    config = _config(name, **overrides)
    _, metrics = jax.jit(make_train(config))(jax.random.PRNGKey(0))  # init and 6 updates
    return config, {key: np.asarray(value) for key, value in jax.device_get(metrics).items()}


RUNS = {
    # 8 random IcyLake steps cost μ̂ ≈ 15: at d = 15 the start is infeasible in some updates.
    "cpo": {"cost_limit": 15.0, "max_kl": 0.05},
    # At d = 40 VaR-CPO stays in Cantelli mode with a finite budget that sets δ inside
    # [min_max_kl, max_kl] in some updates and is clipped to max_kl in others.
    "varcpo": {
        "max_kl_mode": "adaptive",
        "cost_limit": 40.0,
        "alpha_train": 0.08,
        "max_kl": 0.05,
        "min_max_kl": 1e-3,
    },
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_accepted_steps_satisfy_the_line_search_conditions(name):
    _, metrics = _run(name, **RUNS[name])
    accepted = metrics["trust_region/accepted"] == 1.0
    assert accepted.sum() >= 3, metrics["trust_region/case"]
    for key, values in metrics.items():
        assert np.isfinite(values).all(), key
    assert (metrics["policy/kl"][accepted] <= metrics["trust_region/max_kl"][accepted]).all()
    assert (metrics["policy/kl"][accepted] > 0).all()
    change = metrics["trust_region/constraint_change"][accepted]
    assert (change <= np.maximum(-metrics["trust_region/c"][accepted], 0.0)).all()
    improves = accepted & (metrics["trust_region/case"] >= 2)
    assert (metrics["policy/improvement"][improves] >= 0).all()
    if name == "cpo":  # some updates start infeasible: the step must not raise the surrogate
        infeasible = accepted & (metrics["trust_region/c"] > 0)
        assert infeasible.any()
        assert (metrics["trust_region/constraint_change"][infeasible] <= 0).all()


def test_cpo_constraint_value_is_the_scale_matched_violation():
    config, metrics = _run("cpo", **RUNS["cpo"])
    # c = (μ̂ − d) / H, H = clip(mean episode length, 1, 1 / (1 − γ_c)).
    violation = metrics["constraint/mean_cost"] - config.algo.cost_limit
    np.testing.assert_allclose(metrics["constraint/violation"], violation, rtol=1e-5)
    cap = 1 / (1 - config.algo.cost_discount) if config.algo.cost_discount < 1 else np.inf
    horizon = np.clip(metrics["episode/length"], 1.0, cap)
    assert (metrics["episode/count"] > 0).all() and (horizon < 9).all()
    np.testing.assert_allclose(metrics["trust_region/horizon"], horizon, rtol=1e-6)
    np.testing.assert_allclose(
        metrics["trust_region/c"], violation / metrics["trust_region/horizon"], rtol=1e-5
    )


def test_varcpo_adaptive_trust_region_within_bounds_and_from_the_budget():
    config, metrics = _run("varcpo", **RUNS["varcpo"])
    algo = config.algo
    max_kl = metrics["trust_region/max_kl"]
    assert (max_kl <= np.float32(algo.max_kl)).all()
    assert (max_kl >= np.float32(algo.min_max_kl)).all()
    assert ((max_kl > 1.01 * algo.min_max_kl) & (max_kl < 0.99 * algo.max_kl)).any(), max_kl
    cantelli = metrics["constraint/recovery"] == 0.0
    assert cantelli.all()
    # δ = clip(Δ² / (2 s H²), δ_min, δ_max), Δ rebuilt from the logged μ̂ and c (episode units).
    d, beta = algo.cost_limit, 1 / algo.alpha - 1
    margin = d - metrics["constraint/mean_cost"]
    tolerated = margin**2 * (algo.alpha_train * beta / (1 - algo.alpha_train) - 1)
    budget = tolerated - metrics["constraint/cantelli_value"]
    assert (budget > 0).all()
    horizon = metrics["trust_region/horizon"]
    expected = np.clip(
        budget**2 / (2 * metrics["trust_region/s"] * horizon**2), algo.min_max_kl, algo.max_kl
    )
    np.testing.assert_allclose(max_kl, expected, rtol=1e-3)
    np.testing.assert_allclose(
        metrics["trust_region/c"], metrics["constraint/cantelli_value"] / horizon, rtol=1e-5
    )
    # The logged bound is σ² / (σ² + (d − μ)²) of the logged σ̂, μ̂.
    std = metrics["constraint/cost_std"]
    np.testing.assert_allclose(
        metrics["constraint/cantelli_bound"], std**2 / (std**2 + margin**2), rtol=1e-3, atol=1e-6
    )
