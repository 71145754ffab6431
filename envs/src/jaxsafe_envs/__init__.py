"""jaxsafe_envs: constrained MDP environments as pure JAX functions (gymnax ≥ 1.0 contract).

>>> import jax, jaxsafe_envs
>>> env, params = jaxsafe_envs.make("IcyLake-v1")
>>> obs, state = env.reset(jax.random.key(0), params)
>>> obs, state, reward, terminated, truncated, info = env.step(
...     jax.random.key(1), state, 2, params)
>>> float(info["cost"])
2.0
"""

# First, before brax is imported: drops MuJoCo's notice that the optional Warp is absent.
from jaxsafe_envs import warp_notice  # noqa: F401

# isort: split
from jaxsafe_envs.ant_circle import AntCircle, AntCircleParams
from jaxsafe_envs.brax_task import BraxTask, BraxTaskState
from jaxsafe_envs.eco_ant import EcoAnt, EcoAntParams, EcoAntState
from jaxsafe_envs.icy_lake import IcyLake, IcyLakeParams, IcyLakeState
from jaxsafe_envs.navigation_layout import NavigationLayout
from jaxsafe_envs.point_circle import PointCircle, PointCircleParams, PointCircleState
from jaxsafe_envs.point_goal import PointGoal, PointGoalParams, PointGoalState
from jaxsafe_envs.point_hazards import PointHazards, PointHazardsParams, PointHazardsState
from jaxsafe_envs.point_robot import PointRobotParams, PointRobotState
from jaxsafe_envs.point_trap import PointTrap, PointTrapParams, PointTrapState
from jaxsafe_envs.registry import describe, keywords, make, registered

__version__ = "0.1.0"

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
    "keywords",
    "make",
    "registered",
]
