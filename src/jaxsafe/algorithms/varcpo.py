"""VaR-CPO: CPO on Cantelli's bound of a Value-at-Risk constraint.

Tangri & Calliess, "VaR-CPO" (arXiv 2601.22993); VARCPO.md. The constraint P(C ≥ d) ≤ α on
the γ_c-discounted episode cost C holds when μ = E[C] < d and (eq. 22, 30)

    J_ĉ(π) = β E[C²] + 2dμ ≤ B(π) = d² + μ²/α,    β = 1/α − 1,

where J_ĉ is the expected return of the augmented cost ĉ_t = β γ^t c_t² + 2(β C_t + d) c_t
(:mod:`jaxsafe.cantelli`), learned by its own critic on the augmented state s̃ = (s, C_t/d,
γ^t, t/T). Linearising B around π_k (eq. 33) gives CPO's local problem with

    b = ∇L_ĉ − (2μ̂/α) ∇L_C,    c = Ĵ_ĉ − d² − μ̂²/α,

L_ĉ, L_C the per-step surrogates of the centred advantages, c scale-matched to b
(**[FIX]**), and the line search checks the same combination ΔL_ĉ − (2μ̂/α)ΔL_C ≤ max(−c, 0)
(**[FIX]**). **Recovery (37)**: while μ̂ ≥ d the bound is void, and the update is plain CPO
on μ ≤ d (c = μ̂ − d, b = ∇L_C); with ``recovery_hysteresis = h`` it stays in recovery
until μ̂ < (1 − h) d.

``max_kl_mode = "adaptive"`` (eq. 35–36) shrinks δ so that the worst-case increase of the
linearised constraint within the region, H √(2δ bᵀH⁻¹b), keeps the bound at most α_train:
with the margin m = d − μ̂ the tolerated value of βσ² − m² is
Δ = m² (α_train β / (1 − α_train) − 1), so the step may raise c by at most Δ − c.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import ml_collections

from jaxsafe.advantages import standardize
from jaxsafe.algorithms import cpo_update, on_policy
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.algorithms.on_policy import Frame
from jaxsafe.cantelli import cantelli_bound


def default_config() -> ml_collections.ConfigDict:
    """VaR-CPO's defaults (paper App. B and the reference code)."""
    config = cpo_update.default_config()
    config.cost_limit = 15.0  # d, the VaR threshold on the discounted episode cost
    config.alpha = 0.05  # tail probability: P(C ≥ d) ≤ α
    config.cost_discount = 0.999
    config.critic_learning_rate = 3e-4
    config.recovery_hysteresis = 0.0  # h: leave recovery once μ̂ < (1 − h) d
    config.max_kl_mode = "fixed"  # "fixed" | "adaptive" (eq. 35–36)
    config.alpha_train = 0.1  # α_train > α, the tolerance of the adaptive trust region
    config.min_max_kl = 1e-4  # the adaptive δ's floor
    return config


VAR_THRESHOLD_FIELD = "cost_limit"
"""The algorithm's own VaR threshold d: training and evaluation report P(C ≥ d) against it."""
VAR_LEVEL_FIELD = "alpha"
"""The probability level α of the constraint P(C ≥ d) ≤ α. The run's plots draw it on the
exceedance curve."""

steps_per_update = on_policy.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    cpo_update.validate(algo, check)
    check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    check(0.0 < algo.alpha < 1.0, "algo.alpha", algo.alpha, "must lie in (0, 1)")
    check(
        0.0 <= algo.recovery_hysteresis < 1.0,
        "algo.recovery_hysteresis",
        algo.recovery_hysteresis,
        "must lie in [0, 1)",
    )
    check(
        algo.max_kl_mode in cpo_update.MAX_KL_MODES,
        "algo.max_kl_mode",
        algo.max_kl_mode,
        f"unknown max_kl_mode; valid: {list(cpo_update.MAX_KL_MODES)}",
    )
    check(algo.min_max_kl > 0.0, "algo.min_max_kl", algo.min_max_kl, "must be positive")
    check(
        algo.min_max_kl <= algo.max_kl,
        "algo.min_max_kl",
        algo.min_max_kl,
        f"must not exceed algo.max_kl = {algo.max_kl}",
    )
    if algo.max_kl_mode == "adaptive":  # α_train is read (and checked) only then
        check(
            algo.alpha < algo.alpha_train < 1.0,
            "algo.alpha_train",
            algo.alpha_train,
            f"must lie in (alpha, 1) = ({algo.alpha}, 1)",
        )


class VaRState(NamedTuple):
    recovering: jnp.ndarray  # bool: the last update was a recovery step


def constraint(algo: ml_collections.ConfigDict) -> cpo_update.Constraint:
    def init(hyperparams: Hyperparams) -> VaRState:
        return VaRState(jnp.bool_(False))

    def linearise(state: VaRState, hyperparams: Hyperparams, batch: on_policy.Batch):
        d, alpha = hyperparams["cost_limit"], hyperparams["alpha"]
        beta = 1.0 / alpha - 1.0
        mu, augmented_return = batch.mean_cost, batch.augmented_return
        recovering = (mu >= d) | (state.recovering & (mu >= (1.0 - algo.recovery_hysteresis) * d))

        cantelli_value = augmented_return - d**2 - mu**2 / alpha
        cantelli_weights = jnp.array([0.0, -2.0 * mu / alpha, 1.0])
        recovery_value = mu - d
        recovery_weights = jnp.array([0.0, 1.0, 0.0])
        value = jnp.where(recovering, recovery_value, cantelli_value)
        weights = jnp.where(recovering, recovery_weights, cantelli_weights)

        margin = d - mu
        tolerated = margin**2 * (algo.alpha_train * beta / (1.0 - algo.alpha_train) - 1.0)
        headroom = tolerated - value
        budget = jnp.where(~recovering & (headroom > 0), headroom, jnp.inf)

        second_moment = (augmented_return - 2.0 * d * mu) / beta
        finished = batch.records.done
        exceeded = finished & (batch.records.discounted_cost >= d)
        linearisation = cpo_update.Linearisation(
            objective_advantage=standardize(batch.advantages[on_policy.REWARD]),
            constraint_weights=weights,
            constraint_value=value,
            violation_budget=budget,
        )
        metrics = {
            "constraint/recovery": recovering.astype(jnp.float32),
            "constraint/cantelli_value": cantelli_value,
            "constraint/cost_std": jnp.sqrt(jnp.maximum(second_moment - mu**2, 0.0)),
            "constraint/cantelli_bound": cantelli_bound(mu, second_moment, d),
            "constraint/var_exceedance": exceeded.sum() / jnp.maximum(finished.sum(), 1),
        }
        return VaRState(recovering), linearisation, metrics

    return cpo_update.Constraint(
        init=init,
        linearise=linearise,
        hyperparams={
            "cost_limit": jnp.float32(algo.cost_limit),
            "alpha": jnp.float32(algo.alpha),
        },
        augmented_state=True,
    )


def make_frame(config: ml_collections.ConfigDict, env, env_params) -> tuple[Algorithm, Frame]:
    """The algorithm and its on-policy frame (whose phases ``update_split.py`` times)."""
    # The VaR threshold d is the event VaR-CPO bounds: report P(C ≥ d) against it.
    return cpo_update.make_frame(
        config,
        env,
        env_params,
        constraint(config.algo),
        exceedance_threshold=float(config.algo[VAR_THRESHOLD_FIELD]),
    )


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return make_frame(config, env, env_params)[0]
