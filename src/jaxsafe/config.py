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
:func:`validate` rejects impossible values before anything is compiled, naming the field.
"""

from __future__ import annotations

from typing import Any

import ml_collections

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS, cvar_ppo, trust_region, varcpo

ENV_PRESETS: dict[str, dict[str, Any]] = {
    # Tabular and fast: finishes in minutes on a CPU. Cost discount as in the VaR-CPO paper.
    "IcyLake-v1": {
        "total_timesteps": 400_000,
        "algo.num_envs": 32,
        "algo.num_steps": 128,
        "algo.num_epochs": 4,
        "algo.num_minibatches": 4,
        "algo.learning_rate": 1e-3,
        "algo.discount": 0.99,
        "algo.cost_discount": 0.999,
        "algo.entropy_coef": 0.01,
        "algo.normalize_observations": False,  # one-hot positions
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


CHOICES: dict[str, tuple[str, ...]] = {
    "variant": cvar_ppo.VARIANTS,
    "lagrange_optimizer": ("adam", "sgd"),
    "critic_normalization": trust_region.CRITIC_NORMALIZATIONS,
    "moment_estimator": trust_region.MOMENT_ESTIMATORS,
    "scale_matching": trust_region.SCALE_MATCHINGS,
    "trust_region": varcpo.TRUST_REGIONS,
}
"""The string-valued ``algo`` fields and their valid values."""


class ConfigError(ValueError):
    """An invalid config value; the message names the field and the value."""


def make_config(algo_name: str, env_name: str, **env_kwargs: Any) -> ml_collections.ConfigDict:
    """The full config of ``algo_name`` on ``env_name`` with every default filled in."""
    if algo_name not in ALGORITHMS:
        raise ConfigError(
            f"algo.name: unknown algorithm {algo_name!r}; valid: {sorted(ALGORITHMS)}"
        )
    algo = ALGORITHMS[algo_name].default_config()
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
                # d: log "episode/cost_exceedance", the fraction of episodes with C_γ ≥ d
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
    """Raises :class:`ConfigError` naming the first invalid field of ``config``."""
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
            f"unknown keyword of {config.env.name}; valid: {valid_kwargs}",
        )
    algo = config.algo
    _check(
        algo.name in ALGORITHMS,
        "algo.name",
        algo.name,
        f"unknown algorithm; valid: {sorted(ALGORITHMS)}",
    )
    _check(config.num_seeds >= 1, "num_seeds", config.num_seeds, "must be at least 1")
    for field in ("num_envs", "num_steps", "num_epochs", "num_minibatches"):
        _check(algo[field] >= 1, f"algo.{field}", algo[field], "must be at least 1")
    batch = algo.num_envs * algo.num_steps
    _check(
        batch % algo.num_minibatches == 0,
        "algo.num_minibatches",
        algo.num_minibatches,
        f"must divide the batch num_envs × num_steps = {batch}",
    )
    _check(
        config.total_timesteps >= batch,
        "total_timesteps",
        config.total_timesteps,
        f"must cover at least one batch of num_envs × num_steps = {batch} steps",
    )
    for field in ("discount", "gae_lambda", "cost_discount", "cost_gae_lambda"):
        _check(0.0 <= algo[field] <= 1.0, f"algo.{field}", algo[field], "must lie in [0, 1]")
    for field in ("learning_rate", "clip_epsilon", "max_grad_norm", "max_kl", "min_max_kl"):
        if field in algo:
            _check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")
    for field in ("entropy_coef", "cg_damping", "recovery_hysteresis"):
        if field in algo:
            _check(algo[field] >= 0.0, f"algo.{field}", algo[field], "must be >= 0")
    for field in ("cg_iterations", "backtrack_steps"):
        if field in algo:
            _check(algo[field] >= 1, f"algo.{field}", algo[field], "must be at least 1")
    for field in ("backtrack_ratio", "critic_statistics_rate"):
        if field in algo:
            _check(0.0 < algo[field] < 1.0, f"algo.{field}", algo[field], "must lie in (0, 1)")
    for field, valid in CHOICES.items():
        if field in algo:
            message = f"unknown {field}; valid: {list(valid)}"
            _check(algo[field] in valid, f"algo.{field}", algo[field], message)
    if "cost_limit" in algo:
        _check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    if "alpha" in algo:
        _check(0.0 < algo.alpha < 1.0, "algo.alpha", algo.alpha, "must lie in (0, 1)")
    for field in ("lagrange_learning_rate", "eta_learning_rate"):
        if field in algo:
            _check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")
    if "min_max_kl" in algo:
        _check(
            algo.min_max_kl <= algo.max_kl,
            "algo.min_max_kl",
            algo.min_max_kl,
            f"must not exceed algo.max_kl = {algo.max_kl}",
        )
    if algo.get("trust_region") == "adaptive":
        _check(
            algo.alpha < algo.alpha_train < 1.0,
            "algo.alpha_train",
            algo.alpha_train,
            f"must lie in (alpha, 1) = ({algo.alpha}, 1)",
        )
    if "recovery_hysteresis" in algo:
        _check(
            algo.recovery_hysteresis < 1.0,
            "algo.recovery_hysteresis",
            algo.recovery_hysteresis,
            "must be < 1",
        )
    if "cost_shaping" in algo:
        shaping = algo.cost_shaping
        _check(shaping.horizon >= 0, "algo.cost_shaping.horizon", shaping.horizon, "must be >= 0")
        if shaping.horizon > 0:
            _check(
                algo.cost_discount == 1.0,
                "algo.cost_shaping.horizon",
                shaping.horizon,
                f"cost shaping needs the undiscounted cost, algo.cost_discount = 1 "
                f"(got {algo.cost_discount})",
            )
            _check(
                shaping.coefficient >= 0.0,
                "algo.cost_shaping.coefficient",
                shaping.coefficient,
                "must be >= 0",
            )
            for field in ("learning_rate", "num_steps"):
                _check(
                    shaping[field] > 0,
                    f"algo.cost_shaping.{field}",
                    shaping[field],
                    "must be positive",
                )
    if "lagrange_init" in algo:
        _check(algo.lagrange_init >= 0.0, "algo.lagrange_init", algo.lagrange_init, "must be >= 0")
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


def _check(ok: bool, field: str, value: Any, message: str) -> None:
    if not ok:
        raise ConfigError(f"config.{field} = {value!r}: {message}")
