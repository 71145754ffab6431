"""The flipping-based policy's family: S members of a base algorithm at S cost limits, one program.

Shen, Jiang, Wachi, Hashimoto & Gros, "Flipping-based Policy for Chance-Constrained Markov
Decision Processes", NeurIPS 2024 (arXiv 2410.06474), Algorithm 1 (ALGORITHMS.md §D.2):

1. pick S levels — with CPO-like base algorithms, cost limits d_1 … d_S (``algo.cost_limits``);
2. train θ̃_i with the base algorithm (``algo.base``: ``cpo``, ``ppo_lag``, ``trpo_lag`` or
   ``varcpo``) at each d_i;
3. evaluate every member on fresh episodes (Ĵ_i, Ĉ_i, F̂_i) and
4. solve the LP  max_ν Σ ν_i Ĵ_i  s.t.  Σ ν_i c_i ≤ b, Σ ν_i = 1, ν ≥ 0  for the two-member
   mixture (:mod:`jaxsafe.flipping`).

Steps 1–2 are this module: the members are the base algorithm's state with a leading member
axis ``[S]``, initialised from the *same* key (common random numbers: member i is exactly the
single base run at d_i with that key, up to the order of float reductions) and updated by
``jax.vmap(base.update)``. The cost limit of each member is the traced hyper-parameter
``cost_limits [S]``, so the family is one compiled program, vmapped over seeds on top. Every
metric gains a trailing member axis, and ``cost_limit`` (d_i) is logged with them.

Steps 3–4 happen at evaluation (``jaxsafe.eval``); the state's :class:`~jaxsafe.flipping.Mixture`
names the two members and the weight the public policy flips between (member 0 alone until an
evaluation sets it), in the mode ``algo.flip_mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxsafe import flipping
from jaxsafe.algorithms import cpo, ppo_lag, trpo_lag, varcpo
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.policy import Policy

BASES = {"cpo": cpo, "ppo_lag": ppo_lag, "trpo_lag": trpo_lag, "varcpo": varcpo}
"""The base algorithms a family may be trained with (each constrains ``algo.cost_limit``)."""

COORDINATES = ("cost", "violation")
"""The LP's safety coordinate: expected episode cost Ĉ ≤ d, or violation probability 1 − F̂ ≤ α."""

BASE_FIELD = "base"
"""The field naming the base algorithm, whose fields the config also has
(:func:`jaxsafe.config.make_config` with ``base=``)."""

FLIP_FIELDS = (
    "base",
    "cost_limits",
    "flip_mode",
    "budget_coordinate",
    "budget",
    "violation_horizon",
)
"""``config.algo`` fields of the family itself; every other field is the base algorithm's."""


def default_config(base: str = "cpo") -> ml_collections.ConfigDict:
    """The base algorithm's fields (without its single ``cost_limit``) and the family's."""
    if base not in BASES:
        raise ValueError(f"unknown base algorithm {base!r}; valid: {sorted(BASES)}")
    config = BASES[base].default_config()
    del config["cost_limit"]
    config.base = base
    config.cost_limits = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0)  # d_1 … d_S
    config.flip_mode = "per_episode"  # flipping.MODES: once per episode, or per step (Alg. 2)
    config.budget_coordinate = "cost"  # COORDINATES: the LP's constraint
    config.budget = 25.0  # d (expected cost) or α (violation probability) of the LP
    config.violation_horizon = 0  # T of F̂ = P(no cost within T steps); 0: the whole episode
    return config


def steps_per_update(algo: ml_collections.ConfigDict) -> int:
    """Environment steps of one update of *one member* (``env_steps`` counts per member)."""
    return BASES.get(algo.base, cpo).steps_per_update(algo)


def base_config(config: ml_collections.ConfigDict, cost_limit: float) -> ml_collections.ConfigDict:
    """The base algorithm's run config at ``cost_limit`` (the family's fields removed)."""
    base = ml_collections.ConfigDict(config.to_dict())
    algo = base.algo
    algo.name = config.algo.base
    for field in FLIP_FIELDS:
        del algo[field]
    algo.cost_limit = float(cost_limit)
    return base


def _limits(algo: ml_collections.ConfigDict) -> np.ndarray:
    """``algo.cost_limits`` as a 1-D float array (a scalar when a sweep checks one value)."""
    return np.atleast_1d(np.asarray(algo.cost_limits, np.float64))


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    check(algo.base in BASES, "algo.base", algo.base, f"unknown base; valid: {sorted(BASES)}")
    limits = _limits(algo)
    check(limits.size >= 1, "algo.cost_limits", algo.cost_limits, "must hold at least one limit")
    check(
        bool(np.all(np.isfinite(limits)) and np.all(limits >= 0.0)),
        "algo.cost_limits",
        algo.cost_limits,
        "every limit must be finite and >= 0",
    )
    check(
        algo.flip_mode in flipping.MODES,
        "algo.flip_mode",
        algo.flip_mode,
        f"valid: {list(flipping.MODES)}",
    )
    check(
        algo.budget_coordinate in COORDINATES,
        "algo.budget_coordinate",
        algo.budget_coordinate,
        f"valid: {list(COORDINATES)}",
    )
    if algo.budget_coordinate == "violation":
        check(0.0 <= algo.budget <= 1.0, "algo.budget", algo.budget, "α must lie in [0, 1]")
    else:
        check(algo.budget >= 0.0, "algo.budget", algo.budget, "d must be >= 0")
    check(
        algo.violation_horizon >= 0,
        "algo.violation_horizon",
        algo.violation_horizon,
        "must be >= 0 (0: the whole episode)",
    )
    fields = {name: algo[name] for name in algo if name not in FLIP_FIELDS}
    member = ml_collections.ConfigDict({**fields, "name": algo.base, "cost_limit": limits[0]})
    BASES[algo.base].validate(member, check)


class FlipState(NamedTuple):
    """The family's training state."""

    members: Any  # the base algorithm's state, every leaf with a leading member axis [S]
    cost_limits: jax.Array  # [S] d_i
    mixture: flipping.Mixture  # the two members the public policy flips between


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    algo = config.algo
    limits = _limits(algo)
    base = BASES[algo.base].make(base_config(config, limits[0]), env, env_params)
    member_names = [name for name in base.hyperparams if name != "cost_limit"]

    def init(key: jax.Array, hyperparams: Hyperparams) -> FlipState:
        cost_limits = jnp.atleast_1d(hyperparams["cost_limits"])
        per_member = {
            name: jnp.broadcast_to(hyperparams[name], cost_limits.shape) for name in member_names
        }
        per_member["cost_limit"] = cost_limits
        members = jax.vmap(base.init, in_axes=(None, 0))(key, per_member)
        return FlipState(members, cost_limits, flipping.single_member(0))

    def update(state: FlipState) -> tuple[FlipState, dict[str, jax.Array]]:
        members, metrics = jax.vmap(base.update)(state.members)
        metrics = {**metrics, "cost_limit": state.cost_limits}
        return state._replace(members=members), metrics

    def member_policy(state: FlipState, index: jax.Array) -> Policy:
        return base.policy(jax.tree.map(lambda leaf: leaf[index], state.members))

    def policy(state: FlipState) -> Policy:
        mixture = state.mixture
        return flipping.flipping_policy(
            member_policy(state, mixture.first),
            member_policy(state, mixture.second),
            mixture.weight,
            algo.flip_mode,
        )

    own_threshold = getattr(BASES[algo.base], "VAR_THRESHOLD_FIELD", None)
    return Algorithm(
        init=init,
        update=update,
        policy=policy,
        hyperparams={
            **{name: base.hyperparams[name] for name in member_names},
            "cost_limits": jnp.asarray(limits, jnp.float32),
        },
        steps_per_update=base.steps_per_update,
        env=base.env,
        env_params=base.env_params,
        exceedance_threshold=None if own_threshold else base.exceedance_threshold,
        members=len(limits),
        member_policy=member_policy,
    )
