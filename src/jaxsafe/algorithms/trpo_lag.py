"""TRPO-Lagrangian: a TRPO step on the Lagrangian advantage, with a learned multiplier.

Ray, Achiam & Amodei, "Benchmarking Safe Exploration in Deep RL" (2019), as in
safety-starter-agents: a multiplier λ ≥ 0 ascends λ (μ̂ − d) once per batch (projected
gradient ascent, Adam by default; :mod:`jaxsafe.lagrange`), then the policy takes the natural-
gradient step of TRPO (Schulman et al., ICML 2015) on the penalised advantage

    Â^L_t = (Â_t − λ Â^C_t) / (1 + λ),

Â standardised and Â^C centred, within KL ≤ δ, with a backtracking line search that requires
KL ≤ δ and no decrease of the surrogate. In the shared solver this is the constraint-free
case 4 of CPO (b = 0, c < 0).
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import ml_collections

from jaxsafe import cost_shaping
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import trust_region
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.lagrange import LagrangeMultiplier, LagrangeState


def default_config() -> ml_collections.ConfigDict:
    config = trust_region.default_config()
    config.cost_limit = 25.0  # d, on the expected episode cost
    config.cost_discount = 1.0
    config.cost_shaping = cost_shaping.default_config()  # CPO §6.3, off by default
    config.lagrange_init = 0.0
    config.lagrange_learning_rate = 0.035
    config.lagrange_optimizer = "adam"
    return config


class LagrangianState(NamedTuple):
    multiplier: LagrangeState


def constraint(algo: ml_collections.ConfigDict) -> trust_region.Constraint:
    multiplier = LagrangeMultiplier(algo.lagrange_learning_rate, algo.lagrange_optimizer)

    def init(hyperparams: Hyperparams) -> LagrangianState:
        return LagrangianState(multiplier.init(algo.lagrange_init))

    def linearise(state: LagrangianState, hyperparams: Hyperparams, batch: trust_region.Batch):
        violation = batch.mean_cost - hyperparams["cost_limit"]
        lagrange = multiplier.update(state.multiplier, violation)
        lam = lagrange.value
        advantages = batch.advantages
        cost_advantages = advantages[trust_region.COST] - advantages[trust_region.COST].mean()
        objective = (standardize(advantages[trust_region.REWARD]) - lam * cost_advantages) / (
            1.0 + lam
        )
        linearisation = trust_region.Linearisation(
            objective_advantage=objective,
            constraint_weights=jnp.zeros(advantages.shape[0]),
            constraint_value=jnp.float32(-1.0),  # no constraint in the step: TRPO
            violation_budget=jnp.float32(jnp.inf),
        )
        metrics = {"constraint/multiplier": lam, "constraint/violation": violation}
        return LagrangianState(lagrange), linearisation, metrics

    return trust_region.Constraint(
        init=init,
        linearise=linearise,
        hyperparams={"cost_limit": jnp.float32(algo.cost_limit)},
        augmented_state=False,
        threshold=float(algo.cost_limit),
    )


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return trust_region.make(config, env, env_params, constraint(config.algo))
