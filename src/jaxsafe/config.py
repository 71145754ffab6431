"""The run config: its schema, a builder for experiment files, and validation.

A config is an ``ml_collections.ConfigDict`` with stable top-level names that other tools rely
on::

    seed, num_seeds, total_timesteps
    env.name, env.kwargs              # jaxsafe_envs.make(env.name, **env.kwargs)
    algo.name, algo.*                 # the algorithm's hyper-parameters (algo.cost_limit, ...)
    log.*                             # updates_per_chunk, tensorboard, progress, cost_threshold
    checkpoint.*                      # every_chunks, max_to_keep

Experiment files call :func:`make_config` (the algorithm's defaults, then the environment's
preset from :data:`ENV_PRESETS`) and set what differs.
:func:`validate` rejects impossible values before anything is compiled, naming the field: it
checks the common part and then the algorithm's own fields, which the algorithm module declares
(``default_config``) and checks (``validate``); see :mod:`jaxsafe.algorithms`.
"""

from __future__ import annotations

import difflib
from typing import Any

import ml_collections
import numpy as np

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS

ENV_PRESETS: dict[str, dict[str, Any]] = {
    # Tabular and fast: finishes in minutes on a CPU. Cost discount as in the VaR-CPO paper.
    "IcyLake-v1": {
        "total_timesteps": 400_000,
        "algo.num_envs": 32,
        "algo.num_steps": 128,
        "algo.num_epochs": 4,
        "algo.num_minibatches": 4,
        "algo.policy_learning_rate": 1e-3,
        "algo.critic_learning_rate": 1e-3,
        "algo.discount": 0.99,
        "algo.cost_discount": 0.999,
        "algo.entropy_coef": 0.01,
        "algo.normalize_observations": False,  # one-hot positions
        # The trust-region step's Fisher on every 5th time step: 16 one-hot states, spanned by
        # any fifth of a batch (jaxsafe.algorithms.cpo_update; 2.2-3.6x faster updates).
        "algo.fisher_sample_stride": 5,
    },
    # CPO paper §10.3.2: γ 0.995, λ_GAE 0.95, cost λ 1, policy (64, 32); horizon 50.
    "PointCircle-v1": {
        "total_timesteps": 1_000_000,
        "algo.num_envs": 100,
        "algo.num_steps": 50,
        "algo.num_epochs": 10,
        "algo.num_minibatches": 10,
        "algo.discount": 0.995,
        "algo.cost_discount": 1.0,
        "algo.cost_gae_lambda": 1.0,
        "algo.hidden_sizes": (64, 32),
    },
    # VaR-CPO paper App. B: 256-unit tanh MLPs, γ 0.99, cost γ 0.999. Sized for a GPU.
    "EcoAnt-v1": {
        "total_timesteps": 20_000_000,
        "algo.num_envs": 2048,
        "algo.num_steps": 32,
        "algo.num_minibatches": 16,
        "algo.num_epochs": 4,
        "algo.cost_discount": 0.999,
        "algo.hidden_sizes": (256, 256),
    },
    "AntCircle-v1": {
        "total_timesteps": 20_000_000,
        "algo.num_envs": 2048,
        "algo.num_steps": 32,
        "algo.num_minibatches": 16,
        "algo.num_epochs": 4,
        "algo.discount": 0.995,
        "algo.hidden_sizes": (256, 256),
    },
}
ENV_PRESETS["EcoAnt-v2"] = ENV_PRESETS["EcoAnt-v1"]
"""Training defaults per environment, applied by :func:`make_config` over the algorithm's."""


RENAMED: dict[str, str] = {
    "learning_rate": "algo.policy_learning_rate and algo.critic_learning_rate (PPO family) or "
    "algo.critic_learning_rate (trpo_lag, cpo, varcpo)",
    "trust_region": "algo.max_kl_mode",
}
"""``algo`` fields that were renamed, and what replaced them."""


class ConfigError(ValueError):
    """An invalid config value; the message names the field and the value."""


def make_config(
    algo_name: str, env_name: str, *, base: str | None = None, **env_kwargs: Any
) -> ml_collections.ConfigDict:
    """The full config of ``algo_name`` on ``env_name`` with every default filled in.

    ``base`` picks the base algorithm of a wrapping algorithm (one whose module names its
    ``BASE_FIELD``, e.g. ``flip``); its fields are then the base algorithm's and its own.
    """
    if algo_name not in ALGORITHMS:
        raise ConfigError(
            f"algo.name: unknown algorithm {algo_name!r}; valid: {sorted(ALGORITHMS)}"
        )
    module = ALGORITHMS[algo_name]
    algo = module.default_config() if base is None else module.default_config(base)
    algo.name = algo_name
    config = ml_collections.ConfigDict(
        {
            "seed": 0,
            "num_seeds": 1,
            "total_timesteps": 1_000_000,
            "env": {"name": env_name, "kwargs": ml_collections.ConfigDict(env_kwargs)},
            "algo": algo,
            "log": {
                "updates_per_chunk": 10,  # updates per jitted call between host logging
                "tensorboard": False,
                "progress": True,  # the live progress line
                # d of the reported event C_γ ≥ d ("episode/cost_exceedance", evaluation's
                # "var_exceedance") for algorithms without a VaR threshold of their own
                "cost_threshold": None,
            },
            "checkpoint": {
                "every_chunks": 1,  # save after every this many chunks (and at the end)
                "max_to_keep": 3,
            },
        }
    )
    for field, value in ENV_PRESETS.get(env_name, {}).items():
        section, _, name = field.rpartition(".")
        if section == "algo" and name not in algo:
            continue  # a preset for another family (e.g. PPO's clip_epsilon)
        (config[section] if section else config)[name] = value
    return config


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises :class:`ConfigError` naming the first invalid field of ``config``.

    Besides the values, checks the fields themselves: a field the schema (:func:`make_config`
    of ``algo.name`` and ``env.name``) does not have is named with the closest valid name, or
    with all of them; a missing one is named too. ``env.kwargs`` may hold any keyword option of
    the environment.
    """
    _check(
        config.env.name in jaxsafe_envs.registered(),
        "env.name",
        config.env.name,
        f"unknown environment; registered: {jaxsafe_envs.registered()}",
    )
    valid_kwargs = jaxsafe_envs.keywords(config.env.name)
    for name in config.env.kwargs:
        _check(
            name in valid_kwargs,
            f"env.kwargs.{name}",
            config.env.kwargs[name],
            f"not an option of {config.env.name}; {_did_you_mean(name, valid_kwargs)}"
            f"valid: {valid_kwargs}",
        )
    algo = config.algo
    _check(
        algo.name in ALGORITHMS,
        "algo.name",
        algo.name,
        f"unknown algorithm; valid: {sorted(ALGORITHMS)}",
    )
    module = ALGORITHMS[algo.name]
    for field in algo:
        if field in RENAMED:
            _check(False, f"algo.{field}", algo[field], f"renamed: use {RENAMED[field]}")
    base_field = getattr(module, "BASE_FIELD", None)
    base = algo.get(base_field) if base_field is not None else None
    if base_field is not None:
        _check(
            base in module.BASES,
            f"algo.{base_field}",
            base,
            f"unknown base algorithm; valid: {sorted(module.BASES)}",
        )
    _check_fields(config, make_config(algo.name, config.env.name, base=base), "config")
    _check(config.num_seeds >= 1, "num_seeds", config.num_seeds, "must be at least 1")
    module.validate(algo, _check)
    steps = module.steps_per_update(algo)
    _check(
        config.total_timesteps >= steps,
        "total_timesteps",
        config.total_timesteps,
        f"must cover at least one batch, the {steps} environment steps of one update",
    )
    threshold = config.log.get("cost_threshold")
    if threshold is not None:
        _check(threshold >= 0.0, "log.cost_threshold", threshold, "must be >= 0")
        own = getattr(module, "VAR_THRESHOLD_FIELD", None)
        _check(
            own is None,
            "log.cost_threshold",
            threshold,
            f"{algo.name} reports P(C >= algo.{own}) itself; leave log.cost_threshold unset",
        )
    _check(
        config.log.updates_per_chunk >= 1,
        "log.updates_per_chunk",
        config.log.updates_per_chunk,
        "must be at least 1",
    )
    _check(
        config.checkpoint.every_chunks >= 1,
        "checkpoint.every_chunks",
        config.checkpoint.every_chunks,
        "must be at least 1",
    )
    _check(
        config.checkpoint.max_to_keep >= 1,
        "checkpoint.max_to_keep",
        config.checkpoint.max_to_keep,
        "must be at least 1",
    )


def validate_hyperparams(config: ml_collections.ConfigDict, values: dict[str, Any]) -> None:
    """Checks hyper-parameter values passed to ``train`` (a sweep) as :func:`validate` checks
    ``config.algo``: each element of the (broadcast) arrays, put into ``config.algo`` in turn.

    Raises:
        ConfigError: naming the field and the first invalid value.
    """
    names = [name for name in values if name in config.algo]
    arrays = np.broadcast_arrays(*(np.asarray(values[name], np.float64) for name in names))
    fields = config.algo.to_dict()
    for index in np.ndindex(arrays[0].shape if arrays else ()):
        swept = {name: float(array[index]) for name, array in zip(names, arrays, strict=True)}
        algo = ml_collections.ConfigDict({**fields, **swept})
        ALGORITHMS[algo.name].validate(algo, _check)


def _check_fields(
    section: ml_collections.ConfigDict, schema: ml_collections.ConfigDict, path: str
) -> None:
    """Raises :class:`ConfigError` for a field of ``section`` that ``schema`` lacks, or the
    other way round; recurses into sub-configs (``env.kwargs`` is checked by the caller)."""
    owner = section.name if path == "config.algo" else path
    for field in section:
        _check(
            field in schema,
            f"{path}.{field}".removeprefix("config."),
            section[field],
            f"not a field of {owner}; "
            + (_did_you_mean(field, list(schema)).strip() or f"valid: {sorted(schema)}"),
        )
        nested = f"{path}.{field}" != "config.env.kwargs" and all(
            isinstance(value[field], ml_collections.ConfigDict) for value in (section, schema)
        )
        if nested:
            _check_fields(section[field], schema[field], f"{path}.{field}")
    for field in schema:
        if field not in section:
            raise ConfigError(
                f"{path}.{field} is missing (its default: {schema[field]!r}); a config "
                "built with make_config has every field"
            )


def _did_you_mean(name: str, valid: list[str]) -> str:
    """``"did you mean 'x'? "`` for the closest valid name, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, valid, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _check(ok: bool, field: str, value: Any, message: str) -> None:
    if not ok:
        raise ConfigError(f"config.{field} = {value!r}: {message}")
