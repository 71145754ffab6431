"""TRPO-Lagrangian: a TRPO step on the Lagrangian advantage, with a learned multiplier.

Ray, Achiam & Amodei, "Benchmarking Safe Exploration in Deep RL" (2019), as in
safety-starter-agents: a multiplier λ ≥ 0 ascends λ (μ̂ − d) once per batch (projected
gradient ascent, Adam by default; :mod:`jaxsafe.lagrange`), then the policy takes the natural-
gradient step of TRPO (Schulman et al., ICML 2015) on the penalised advantage

    Â^L_t = (Â_t − λ Â^C_t) / (1 + λ),

Â standardised and Â^C centred, within KL ≤ δ, with a backtracking line search that requires
KL ≤ δ and no decrease of the surrogate (the ``"trpo"`` acceptance rule). In the shared solver
this is the constraint-free case 4 of CPO (b = 0, c < 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import ml_collections

from jaxsafe import cost_shaping, lagrange
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import cpo_update, on_policy
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.algorithms.on_policy import Frame
from jaxsafe.lagrange import LagrangeMultiplier, LagrangeState


def default_config() -> ml_collections.ConfigDict:
    config = cpo_update.default_config()
    config.cost_limit = 25.0  # d, on the expected episode cost
    config.cost_discount = 1.0
    config.cost_shaping = cost_shaping.default_config()  # CPO §6.3, off by default
    config.lagrange_init = 0.0
    config.lagrange_learning_rate = 0.035
    config.lagrange_optimizer = "adam"
    return config


steps_per_update = on_policy.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    cpo_update.validate(algo, check)
    check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    cost_shaping.validate(algo, check)
    lagrange.validate(algo, check)


class LagrangianState(NamedTuple):
    multiplier: LagrangeState


def constraint(algo: ml_collections.ConfigDict) -> cpo_update.Constraint:
    multiplier = LagrangeMultiplier(algo.lagrange_learning_rate, algo.lagrange_optimizer)

    def init(hyperparams: Hyperparams) -> LagrangianState:
        return LagrangianState(multiplier.init(algo.lagrange_init))

    def linearise(state: LagrangianState, hyperparams: Hyperparams, batch: on_policy.Batch):
        violation = batch.mean_cost - hyperparams["cost_limit"]
        lagrange = multiplier.update(state.multiplier, violation)
        lam = lagrange.value
        advantages = batch.advantages
        cost_advantages = advantages[on_policy.COST] - advantages[on_policy.COST].mean()
        objective = (standardize(advantages[on_policy.REWARD]) - lam * cost_advantages) / (
            1.0 + lam
        )
        linearisation = cpo_update.Linearisation(
            objective_advantage=objective,
            constraint_weights=jnp.zeros(advantages.shape[0]),
            constraint_value=jnp.float32(-1.0),  # no constraint in the step: TRPO
            violation_budget=jnp.float32(jnp.inf),
        )
        metrics = {"constraint/multiplier": lam, "constraint/violation": violation}
        return LagrangianState(lagrange), linearisation, metrics

    return cpo_update.Constraint(
        init=init,
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
        acceptance="trpo",
        exceedance_threshold=config.log.get("cost_threshold"),
    )


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return make_frame(config, env, env_params)[0]
