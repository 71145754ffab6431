"""CPO: Constrained Policy Optimization on an expected-cost constraint.

Achiam, Held, Tamar & Abbeel, ICML 2017 (ALGORITHMS.md §A). Each update solves

    max_θ gᵀ(θ − θ_k)   s.t.   c + bᵀ(θ − θ_k) ≤ 0,   ½ (θ − θ_k)ᵀ H (θ − θ_k) ≤ δ

with g = ∇(1/M) Σ ρ_t Â_t (Â standardised), b = ∇(1/M) Σ ρ_t Â^C_t (Â^C only centred) and
c = μ̂ − d, μ̂ the batch's estimate of the expected γ_c-discounted episode cost (with
``cost_discount = 1``, the undiscounted cost of the paper's experiments), matched to the
per-step scale of b by the effective horizon (:mod:`jaxsafe.algorithms.trust_region`).
"""

from __future__ import annotations

import jax.numpy as jnp
import ml_collections

from jaxsafe import cost_shaping
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import trust_region
from jaxsafe.algorithms.base import Algorithm, Hyperparams


def default_config() -> ml_collections.ConfigDict:
    config = trust_region.default_config()
    config.cost_limit = 25.0  # d, on the expected episode cost
    config.cost_discount = 1.0  # jachiam/cpo's safety_discount
    config.cost_shaping = cost_shaping.default_config()  # CPO §6.3, off by default
    return config


def constraint(algo: ml_collections.ConfigDict) -> trust_region.Constraint:
    def linearise(state, hyperparams: Hyperparams, batch: trust_region.Batch):
        violation = batch.mean_cost - hyperparams["cost_limit"]
        linearisation = trust_region.Linearisation(
            objective_advantage=standardize(batch.advantages[trust_region.REWARD]),
            constraint_weights=jnp.array([0.0, 1.0]),
            constraint_value=violation,
            violation_budget=jnp.float32(jnp.inf),
        )
        return state, linearisation, {"constraint/violation": violation}

    return trust_region.Constraint(
        init=lambda hyperparams: (),
        linearise=linearise,
        hyperparams={"cost_limit": jnp.float32(algo.cost_limit)},
        augmented_state=False,
        threshold=float(algo.cost_limit),
    )


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return trust_region.make(config, env, env_params, constraint(config.algo))
