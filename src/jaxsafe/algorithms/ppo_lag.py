"""PPO-Lagrangian: PPO on the Lagrangian of the expected-cost constraint.

Ray, Achiam & Amodei, "Benchmarking Safe Exploration in Deep RL" (2019), as in
safety-starter-agents: with the constraint J_C(π) ≤ d on the undiscounted expected episode
cost, a multiplier λ ≥ 0 ascends λ (Ĵ_C − d) (projected gradient ascent, Adam by default) once
per batch, and the policy then maximises the clipped surrogate of the penalised advantage

    Â^L_t = (Â_t − λ Â^C_t) / (1 + λ)

with Â standardised and Â^C only centred (ALGORITHMS.md §0.1). Ĵ_C is the mean cost of the
episodes that ended in the batch; a batch in which none ended keeps the previous estimate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxsafe import cost_shaping, lagrange
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import ppo
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.lagrange import LagrangeMultiplier, LagrangeState


def default_config() -> ml_collections.ConfigDict:
    config = ppo.default_config()
    config.cost_limit = 25.0  # d, undiscounted expected episode cost
    config.lagrange_init = 0.0
    config.lagrange_learning_rate = 0.035  # OmniSafe's PPOLag default
    config.lagrange_optimizer = "adam"
    config.cost_shaping = cost_shaping.default_config()  # CPO §6.3, off by default
    return config


steps_per_update = ppo.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    ppo.validate(algo, check)
    check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    lagrange.validate(algo, check)
    cost_shaping.validate(algo, check)


class LagrangianPenaltyState(NamedTuple):
    multiplier: LagrangeState
    episode_cost: jax.Array  # the latest Ĵ_C


def penalty(algo: ml_collections.ConfigDict) -> ppo.Penalty:
    multiplier = LagrangeMultiplier(algo.lagrange_learning_rate, algo.lagrange_optimizer)

    def init(hyperparams: Hyperparams) -> LagrangianPenaltyState:
        return LagrangianPenaltyState(multiplier.init(algo.lagrange_init), jnp.float32(0.0))

    def shape(state: LagrangianPenaltyState, hyperparams: Hyperparams, batch: ppo.Batch):
        finished = batch.episode["episode/count"] > 0
        # Ĵ_C, or with cost shaping Ĵ_{C⁺} = Ĵ_C + α P̄ L̄.
        episode_cost = jnp.where(
            finished, batch.episode["episode/cost"] + batch.cost_margin, state.episode_cost
        )
        violation = episode_cost - hyperparams["cost_limit"]
        updated = multiplier.update(state.multiplier, violation)
        # Without a finished episode there is no new evidence: keep λ.
        lagrange = jax.tree.map(
            lambda new, old: jnp.where(finished, new, old), updated, state.multiplier
        )
        lam = lagrange.value
        cost_advantages = batch.cost_advantages - batch.cost_advantages.mean()
        advantage = (standardize(batch.advantages) - lam * cost_advantages) / (1.0 + lam)
        metrics = {
            "constraint/multiplier": lam,
            "constraint/episode_cost": episode_cost,
            "constraint/violation": violation,
        }
        return LagrangianPenaltyState(lagrange, episode_cost), advantage, metrics

    return ppo.Penalty(init, shape, {"cost_limit": jnp.float32(algo.cost_limit)})


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return ppo.make(config, env, env_params, penalty(config.algo))
