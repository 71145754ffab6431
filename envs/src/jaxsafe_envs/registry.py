"""Environment registry: ``make(name, **kwargs) -> (env, params)``, ``registered()``, ``describe``.

Every name carries a version. Keyword arguments go to the environment's constructor; static
choices (map, backend, cost kind) shape the environment, numeric constants land in its params
pytree so they can be traced and vmapped.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from gymnax.environments import environment

_REGISTRY: dict[str, tuple[str, str, dict[str, Any]]] = {
    # name: (module, class, keywords the name fixes)
    "IcyLake-v1": ("icy_lake", "IcyLake", {}),
    "EcoAnt-v1": ("eco_ant", "EcoAnt", {"cost": "sparse"}),
    "EcoAnt-v2": ("eco_ant", "EcoAnt", {"cost": "dense"}),
    "PointCircle-v1": ("point_circle", "PointCircle", {}),
    "AntCircle-v1": ("ant_circle", "AntCircle", {}),
    "PointHazards-v1": ("point_hazards", "PointHazards", {}),
    "PointGoal-v1": ("point_goal", "PointGoal", {}),
    "PointTrap-v1": ("point_trap", "PointTrap", {}),
}
"""Each environment's module is imported when the environment is first asked for, so that the
brax tasks' import of brax and MuJoCo (seconds) is paid only by those who use them."""


def registered() -> list[str]:
    """Names accepted by :func:`make`, sorted."""
    return sorted(_REGISTRY)


def keywords(name: str) -> list[str]:
    """The keyword options of environment ``name``."""
    factory = _factory(name)
    fixed = factory.keywords if isinstance(factory, functools.partial) else {}
    target = factory.func if isinstance(factory, functools.partial) else factory
    return [k for k in inspect.signature(target).parameters if k not in fixed]


def describe(name: str) -> str:
    """One line on environment ``name``: the summary of its module, and the keywords its
    registered name fixes (EcoAnt-v1's ``cost='sparse'``)."""
    factory = _factory(name)
    fixed = factory.keywords if isinstance(factory, functools.partial) else {}
    target = factory.func if isinstance(factory, functools.partial) else factory
    summary = (inspect.getmodule(target).__doc__ or target.__name__).strip().splitlines()[0]
    options = ", ".join(f"{key}={value!r}" for key, value in fixed.items())
    return f"{summary.removesuffix('.')} ({options})." if options else summary


def make(name: str, **kwargs: Any) -> tuple[environment.Environment, Any]:
    """Builds environment ``name`` and its default params.

    Raises:
        ValueError: for an unknown name or keyword; the message lists the valid ones.
    """
    valid = keywords(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"{name}: unknown keyword(s) {unknown}; valid: {valid}")
    env = _factory(name)(**kwargs)
    return env, env.default_params


def _factory(name: str) -> Callable[..., environment.Environment]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown environment {name!r}; registered: {registered()}")
    module, cls, fixed = _REGISTRY[name]
    target = getattr(importlib.import_module(f"jaxsafe_envs.{module}"), cls)
    return functools.partial(target, **fixed) if fixed else target
