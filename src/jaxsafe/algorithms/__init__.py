"""The algorithms, by config name.

Each module exposes ``default_config()`` (its ``config.algo`` fields, documented) and
``make(config, env, env_params) -> Algorithm``.
"""

from types import ModuleType

from jaxsafe.algorithms import cpo, cvar_ppo, ppo, ppo_lag, trpo_lag, varcpo
from jaxsafe.algorithms.base import Algorithm, Hyperparams

ALGORITHMS: dict[str, ModuleType] = {
    "ppo": ppo,
    "ppo_lag": ppo_lag,
    "cvar_ppo": cvar_ppo,
    "trpo_lag": trpo_lag,
    "cpo": cpo,
    "varcpo": varcpo,
}

__all__ = ["ALGORITHMS", "Algorithm", "Hyperparams"]
