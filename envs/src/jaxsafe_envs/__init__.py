"""jaxsafe_envs: constrained MDP environments as pure JAX functions (gymnax ≥ 1.0 contract).

>>> import jax, jaxsafe_envs
>>> env, params = jaxsafe_envs.make("IcyLake-v1")
>>> obs, state = env.reset(jax.random.key(0), params)
>>> obs, state, reward, terminated, truncated, info = env.step(
...     jax.random.key(1), state, 2, params)
>>> float(info["cost"])
2.0
"""

import importlib
import sys
from typing import Any

from jaxsafe_envs.icy_lake import IcyLake, IcyLakeParams, IcyLakeState
from jaxsafe_envs.navigation_layout import NavigationLayout
from jaxsafe_envs.point_circle import PointCircle, PointCircleParams, PointCircleState
from jaxsafe_envs.point_goal import PointGoal, PointGoalParams, PointGoalState
from jaxsafe_envs.point_hazards import PointHazards, PointHazardsParams, PointHazardsState
from jaxsafe_envs.point_robot import PointRobotParams, PointRobotState
from jaxsafe_envs.point_trap import PointTrap, PointTrapParams, PointTrapState
from jaxsafe_envs.registry import describe, keywords, make, registered

__version__ = "0.1.0"

_BRAX_TASKS = {
    "AntCircle": "ant_circle",
    "AntCircleParams": "ant_circle",
    "BraxTask": "brax_task",
    "BraxTaskState": "brax_task",
    "EcoAnt": "eco_ant",
    "EcoAntParams": "eco_ant",
    "EcoAntState": "eco_ant",
}
"""The brax tasks' names and modules, imported on first use: brax and MuJoCo take seconds to
import, which no other environment needs."""


def __getattr__(name: str) -> Any:
    if name in _BRAX_TASKS:
        return getattr(importlib.import_module(f"jaxsafe_envs.{_BRAX_TASKS[name]}"), name)
    raise AttributeError(f"module 'jaxsafe_envs' has no attribute {name!r}")


def loaded_brax_class(name: str) -> type | None:
    """Brax task class ``name`` (e.g. ``"EcoAnt"``) if its module is already imported, else
    ``None``, without importing brax: before its module is loaded no object of it can exist, so
    ``isinstance`` tests against it need not import brax."""
    module = sys.modules.get(f"jaxsafe_envs.{_BRAX_TASKS[name]}")
    return None if module is None else getattr(module, name)


__all__ = [
    "AntCircle",
    "AntCircleParams",
    "BraxTask",
    "BraxTaskState",
    "EcoAnt",
    "EcoAntParams",
    "EcoAntState",
    "IcyLake",
    "IcyLakeParams",
    "IcyLakeState",
    "NavigationLayout",
    "PointCircle",
    "PointCircleParams",
    "PointCircleState",
    "PointGoal",
    "PointGoalParams",
    "PointGoalState",
    "PointHazards",
    "PointHazardsParams",
    "PointHazardsState",
    "PointRobotParams",
    "PointRobotState",
    "PointTrap",
    "PointTrapParams",
    "PointTrapState",
    "describe",
    "loaded_brax_class",
    "keywords",
    "make",
    "registered",
]
