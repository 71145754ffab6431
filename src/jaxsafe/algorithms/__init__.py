"""The algorithms, by config name.

An algorithm module provides

- ``default_config() -> ConfigDict``: its ``config.algo`` fields, with their defaults;
- ``validate(algo, check)``: its own checks of ``config.algo``, calling
  ``check(ok, field, value, message)`` (which raises :class:`jaxsafe.config.ConfigError`);
- ``steps_per_update(algo) -> int``: environment steps one update consumes;
- ``make(config, env, env_params) -> Algorithm``.

:func:`register` adds one under a new name; the config, the run/eval workflow and the benchmarks
then know it without further edits.
"""

from types import ModuleType

from jaxsafe.algorithms import cpo, cppo, csc, cvar_ppo, flip, ppo, ppo_lag, trpo_lag, varcpo
from jaxsafe.algorithms.base import Algorithm, Hyperparams

ALGORITHMS: dict[str, ModuleType] = {
    "ppo": ppo,
    "ppo_lag": ppo_lag,
    "cvar_ppo": cvar_ppo,
    "trpo_lag": trpo_lag,
    "cpo": cpo,
    "varcpo": varcpo,
    "cppo": cppo,  # Xuan et al. 2023 (CPPO-EM); not cvar_ppo
    "csc": csc,  # Bharadhwaj et al. 2021 (Conservative Safety Critics)
    "flip": flip,  # Shen et al. 2024: a family of a base algorithm at many cost limits
}

_INTERFACE = ("default_config", "validate", "steps_per_update", "make")


def register(name: str, module) -> None:
    """Makes ``module`` (anything with the four functions above) available as ``algo.name``."""
    missing = [attribute for attribute in _INTERFACE if not hasattr(module, attribute)]
    if missing:
        raise TypeError(f"algorithm {name!r} lacks {missing}")
    if name in ALGORITHMS and ALGORITHMS[name] is not module:
        raise ValueError(f"algorithm name {name!r} is taken")
    ALGORITHMS[name] = module


__all__ = ["ALGORITHMS", "Algorithm", "Hyperparams", "register"]
