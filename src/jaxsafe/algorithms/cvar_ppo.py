"""CVaR-PPO: PPO with a Conditional-Value-at-Risk constraint on the episode cost.

Ying et al., "Towards Safe Reinforcement Learning via Constraining Conditional Value-at-Risk"
(IJCAI 2022; the VaR-CPO paper's "CPPO" baseline), adapted to a cost constraint as in
ALGORITHMS.md §F.5. With C = Σ_t γ_c^t c_t the episode's cost return and α the tail
probability (the worst α-fraction of episodes; α = 0.05 matches VaR-CPO's P(C ≥ d) ≤ α),

    CVaR_α(C) = min_η  η + E[(C − η)⁺] / α   ≤ d,

with the Rockafellar–Uryasev variable η (the VaR estimate) and a multiplier λ ≥ 0:

    η ← η − lr_η λ (1 − P̂(C ≥ η) / α)
    λ ← max(0, λ + lr_λ (η + Ê[(C − η)⁺] / α − d))

over the episodes that ended in the batch. The policy maximises PPO's clipped surrogate of the
reward advantage minus a per-step penalty on the running cost estimate
Ĉ_t = Σ_{k<t} γ_c^k c_k + γ_c^t V_C(s_t) (the γ_c^t factor as VARCPO.md's fix):

    Â_t ← Â_t − (λ / α) 1[Ĉ_t > η] (Ĉ_t − η),   then standardised.

``variant="top_k"`` is the simplified form used as VaR-CPO's baseline: η is the mean of the
top ⌈α M⌉ running estimates Ĉ_t of the batch, the CVaR is estimated as the mean of the worst
⌈α n⌉ finished episode costs, and λ ← max(0, λ + lr_λ (ĈVaR − d)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxsafe.advantages import standardize
from jaxsafe.algorithms import ppo
from jaxsafe.algorithms.base import Algorithm, Hyperparams

VARIANTS = ("gradient", "top_k")


def default_config() -> ml_collections.ConfigDict:
    config = ppo.default_config()
    config.cost_limit = 15.0  # d, the bound on CVaR_α of the discounted episode cost
    config.alpha = 0.05  # tail probability
    config.variant = "gradient"  # "gradient" (§F.5) or "top_k" (VaR-CPO's baseline)
    config.lagrange_init = 0.0
    config.lagrange_learning_rate = 0.01
    config.eta_learning_rate = 0.1
    config.eta_init = 0.0
    return config


VAR_THRESHOLD_FIELD = "cost_limit"
"""The algorithm's own VaR threshold d: training and evaluation report P(C ≥ d) against it."""
VAR_LEVEL_FIELD = "alpha"
"""The probability level α that bounds P(C ≥ d): CVaR_α(C) ≤ d implies P(C ≥ d) ≤ α. The run's
plots draw it on the exceedance curve."""

steps_per_update = ppo.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    ppo.validate(algo, check)
    check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    check(0.0 < algo.alpha < 1.0, "algo.alpha", algo.alpha, "must lie in (0, 1)")
    check(
        algo.variant in VARIANTS,
        "algo.variant",
        algo.variant,
        f"unknown variant; valid: {list(VARIANTS)}",
    )
    check(algo.lagrange_init >= 0.0, "algo.lagrange_init", algo.lagrange_init, "must be >= 0")
    for field in ("lagrange_learning_rate", "eta_learning_rate"):
        check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")


class CVaRPenaltyState(NamedTuple):
    multiplier: jax.Array  # λ ≥ 0
    eta: jax.Array  # η, the running VaR estimate
    cvar: jax.Array  # the latest CVaR estimate


def _tail_mean(values: jax.Array, valid: jax.Array, fraction: jax.Array) -> jax.Array:
    """Mean of the largest ⌈fraction · n⌉ of the ``n`` valid entries of ``values`` (0 if none)."""
    values, valid = values.ravel(), valid.ravel()
    count = valid.sum()
    k = jnp.maximum(jnp.ceil(fraction * count), 1.0)
    ordered = jnp.sort(jnp.where(valid, values, -jnp.inf))[::-1]
    in_tail = (jnp.arange(ordered.size) < k) & (jnp.arange(ordered.size) < count)
    return jnp.where(count > 0, jnp.sum(jnp.where(in_tail, ordered, 0.0)) / k, 0.0)


def penalty(algo: ml_collections.ConfigDict) -> ppo.Penalty:
    def init(hyperparams: Hyperparams) -> CVaRPenaltyState:
        return CVaRPenaltyState(
            jnp.float32(algo.lagrange_init), jnp.float32(algo.eta_init), jnp.float32(0.0)
        )

    def shape(state: CVaRPenaltyState, hyperparams: Hyperparams, batch: ppo.Batch):
        alpha, limit = hyperparams["alpha"], hyperparams["cost_limit"]
        trajectory = batch.trajectory
        episode_costs, done = batch.records.discounted_cost, batch.records.done
        finished = done.any()
        running_cost = trajectory.cost_so_far + trajectory.cost_discount * batch.cost_values

        if algo.variant == "gradient":
            n = jnp.maximum(done.sum(), 1)
            exceed = jnp.sum(done & (episode_costs >= state.eta)) / n
            shortfall = (
                jnp.sum(jnp.where(done, jnp.maximum(episode_costs - state.eta, 0.0), 0.0)) / n
            )
            cvar = state.eta + shortfall / alpha
            eta = state.eta - algo.eta_learning_rate * state.multiplier * (1.0 - exceed / alpha)
        else:
            cvar = _tail_mean(episode_costs, done, alpha)
            eta = _tail_mean(running_cost, jnp.ones_like(done), alpha)
        multiplier = jnp.maximum(
            state.multiplier + algo.lagrange_learning_rate * (cvar - limit), 0.0
        )
        # Without a finished episode there is no new evidence about the tail: keep λ, η.
        multiplier = jnp.where(finished, multiplier, state.multiplier)
        eta = jnp.where(finished, eta, state.eta)
        cvar = jnp.where(finished, cvar, state.cvar)

        tail_penalty = (multiplier / alpha) * jnp.maximum(running_cost - eta, 0.0)
        advantage = standardize(batch.advantages - tail_penalty)
        metrics = {
            "constraint/multiplier": multiplier,
            "constraint/eta": eta,
            "constraint/cvar": cvar,
            "constraint/var_exceedance": jnp.sum(done & (episode_costs >= limit))
            / jnp.maximum(done.sum(), 1),
            "constraint/penalised_fraction": jnp.mean(tail_penalty > 0),
        }
        return CVaRPenaltyState(multiplier, eta, cvar), advantage, metrics

    hyperparams = {
        "cost_limit": jnp.float32(algo.cost_limit),
        "alpha": jnp.float32(algo.alpha),
    }
    return ppo.Penalty(init, shape, hyperparams)


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    # d bounds the tail of C: report P(C ≥ d) against it.
    return ppo.make(
        config,
        env,
        env_params,
        penalty(config.algo),
        exceedance_threshold=float(config.algo[VAR_THRESHOLD_FIELD]),
    )
