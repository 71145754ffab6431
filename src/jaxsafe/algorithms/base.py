"""The algorithm interface: an optax-like pair of pure functions over a named state.

``init(key, hyperparams) -> state`` and ``update(state) -> (state, metrics)``, where ``state``
carries *everything* that changes during training (parameters, optimiser states, multipliers,
the observation normaliser, the environments and the random key), so that ``update`` can be
scanned, vmapped over seeds and hyper-parameters, checkpointed and resumed bit for bit.
``policy(state)`` is the public :class:`jaxsafe.policy.Policy` of a state: rollouts,
evaluation, the benchmarks and :func:`jaxsafe.workdir.load_policy` act only through it.

``hyperparams`` is a dict of scalars the algorithm reads from its state rather than closing
over (e.g. ``cost_limit``), so they may be traced and vmapped: one program can train at several
cost limits.

An algorithm *module* (registered in :data:`jaxsafe.algorithms.ALGORITHMS`) provides
``default_config()`` (its ``config.algo`` fields, documented), ``validate(algo, check)`` (its own
checks, see :func:`jaxsafe.config.validate`) and ``make(config, env, env_params) -> Algorithm``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from jaxsafe.policy import Policy

Hyperparams = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True, eq=False)
class Algorithm:
    """A training algorithm bound to one environment and one config.

    Hashed by identity, so it can be a static argument of ``jax.jit``.
    """

    init: Callable[[jax.Array, Hyperparams], Any]
    """``(key, hyperparams) -> state``: the state before the first update."""
    update: Callable[[Any], tuple[Any, dict[str, jax.Array]]]
    """``state -> (state, metrics)``: one rollout and one learning step."""
    policy: Callable[[Any], Policy]
    """``state -> Policy``: how the state's policy acts (one seed's state, no seed axis)."""
    hyperparams: Hyperparams
    """The traceable hyper-parameters and their configured values."""
    steps_per_update: int
    """Environment steps consumed by one ``update`` (``num_envs × num_steps``)."""
    env: Any
    """The environment the algorithm acts in, as it sees it (e.g. with a cost-augmented state);
    evaluation steps this one."""
    env_params: Any
    exceedance_threshold: float | None = None
    """d of the reported event C_γ ≥ d (training's ``episode/cost_exceedance``, evaluation's
    ``var_exceedance``): a risk-constrained algorithm's own VaR threshold, else the config's
    ``log.cost_threshold``, else ``None``."""
    members: int = 1
    """Independent learners trained side by side per seed (the flipping family's S members,
    :mod:`jaxsafe.algorithms.flip`); with more than one, every metric has a trailing ``[S]``
    axis and ``metrics.jsonl`` a row per update, seed and member."""
    member_policy: Callable[[Any, jax.Array], Policy] | None = None
    """``(state, i) -> Policy`` of member ``i`` (one seed's state), for a family."""
