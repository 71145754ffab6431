"""CPO: Constrained Policy Optimization on an expected-cost constraint.

Achiam, Held, Tamar & Abbeel, ICML 2017 (ALGORITHMS.md §A). Each update solves

    max_θ gᵀ(θ − θ_k)   s.t.   c + bᵀ(θ − θ_k) ≤ 0,   ½ (θ − θ_k)ᵀ H (θ − θ_k) ≤ δ

with g = ∇(1/M) Σ ρ_t Â_t (Â standardised), b = ∇(1/M) Σ ρ_t Â^C_t (Â^C only centred) and
c = μ̂ − d, μ̂ the batch's estimate of the expected γ_c-discounted episode cost (with
``cost_discount = 1``, the undiscounted cost of the paper's experiments), matched to the
per-step scale of b by the effective horizon (:mod:`jaxsafe.algorithms.cpo_update`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import ml_collections

from jaxsafe import cost_shaping
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import cpo_update, on_policy
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.algorithms.on_policy import Frame


def default_config() -> ml_collections.ConfigDict:
    config = cpo_update.default_config()
    config.cost_limit = 25.0  # d, on the expected episode cost
    config.cost_discount = 1.0  # jachiam/cpo's safety_discount
    config.cost_shaping = cost_shaping.default_config()  # CPO §6.3, off by default
    return config


steps_per_update = on_policy.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    cpo_update.validate(algo, check)
    check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    cost_shaping.validate(algo, check)


def constraint(algo: ml_collections.ConfigDict) -> cpo_update.Constraint:
    def linearise(state, hyperparams: Hyperparams, batch: on_policy.Batch):
        violation = batch.mean_cost - hyperparams["cost_limit"]
        linearisation = cpo_update.Linearisation(
            objective_advantage=standardize(batch.advantages[on_policy.REWARD]),
            constraint_weights=jnp.array([0.0, 1.0]),
            constraint_value=violation,
            violation_budget=jnp.float32(jnp.inf),
        )
        return state, linearisation, {"constraint/violation": violation}

    return cpo_update.Constraint(
        init=lambda hyperparams: (),
        linearise=linearise,
        hyperparams={"cost_limit": jnp.float32(algo.cost_limit)},
        augmented_state=False,
    )


def make_frame(config: ml_collections.ConfigDict, env, env_params) -> tuple[Algorithm, Frame]:
    """The algorithm and its on-policy frame (whose phases ``update_split.py`` times)."""
    return cpo_update.make_frame(
        config,
        env,
        env_params,
        constraint(config.algo),
        exceedance_threshold=config.log.get("cost_threshold"),
    )


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return make_frame(config, env, env_params)[0]
