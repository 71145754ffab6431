"""Faster XLA compilation on the CPU: LLVM at -O2 instead of XLA's default -O3.

XLA compilation is most of a short run's time on a CPU, and most of the test suite's. At
``--xla_backend_optimization_level=2`` XLA's CPU backend compiles jaxsafe's programs faster
and they run as fast, measured on this project's 2-core CPU:

- the README main job's programs: 34.2 → 26.5 s compile time (cold start, tracing included);
  VaR-CPO IcyLake with 5 seeds: 34.5 → 28.3 s;
- the golden runs' tiny training programs (``tests/golden_runs.py``, one core): ``cpo`` on
  IcyLake 47.1 → 23.8 s, ``ppo_lag`` on PointCircle 38.2 → 17.7 s;
- an update at the PointCircle preset: ``cpo`` 556 → 531 ms, ``ppo_lag`` 418 → 386 ms
  (``benchmarks/update_split.py``, one run each).

Floating-point results can differ from -O3 in their last bits: 5 of the 20 golden runs did
(``cpo``, ``trpo_lag`` and ``varcpo`` on PointCircle, and ``csc``) and were regenerated for it.

Not done here, measured and rejected: JAX's Threefry with its rounds unrolled on the CPU (its
GPU lowering). At -O3 it saves about as much compile time as -O2 does (golden ``cpo`` on
IcyLake: 26.0 s), but sends LLVM's loop vectorizer into a run of more than 40 minutes on one
vmapped evaluation program; on top of -O2 it saves nothing more (23.6 s) and slows a
PointCircle rollout by about 70% (13.6 → 23.2 ms for 256 × 50 steps).

Also measured and rejected (2026-12-06, a 2-core AMD EPYC, by hand): XLA's older CPU fusion
emitters, ``--xla_cpu_use_fusion_emitters=false``. They compile the golden ``cpo`` IcyLake run
in 6.3 CPU-s instead of 9.7, but change its last bits and run updates 25–60% slower (per
update: ``cpo`` PointCircle 74 → 94–97 ms, ``ppo_lag`` PointCircle 69 → 110–112 ms, ``varcpo``
IcyLake 42 → 53–55 ms, two runs each). XNNPACK and oneDNN dots (``--xla_cpu_use_xnnpack``,
``--xla_cpu_use_onednn``) left those updates as fast as they were, and -O1 compiles no faster
than -O2.

:func:`configure` sets the level for the process. XLA reads its flags when JAX starts its
backends, and importing gymnax does that (it builds an array at import), so callers call it
first: ``jaxsafe.run`` and ``jaxsafe.eval`` at their import, the benchmarks through their
``reporting`` module, the test suite in ``conftest.py``. ``import jaxsafe`` alone changes
nothing, so a program that imports the library compiles with XLA's defaults. A level already in
``XLA_FLAGS`` is kept (``XLA_FLAGS=--xla_backend_optimization_level=3`` restores XLA's default).
"""

from __future__ import annotations

import os
import warnings

from jax._src import xla_bridge

OPTIMIZATION_LEVEL = 2
"""LLVM's optimisation level for XLA's CPU backend (XLA's default: 3)."""

_LEVEL_FLAG = "--xla_backend_optimization_level"


def configure() -> bool:
    """Sets LLVM -O2 for this process's XLA programs unless ``XLA_FLAGS`` names a level.

    Call it before JAX starts its backends (before importing gymnax): XLA reads its flags then.

    Returns:
        Whether :data:`OPTIMIZATION_LEVEL` was added to ``XLA_FLAGS``. ``False`` when a level is
        already there (kept), and, with a warning, when JAX's backends were started before this
        call (nothing is changed then).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if _LEVEL_FLAG in flags:
        return False
    if xla_bridge.backends_are_initialized():
        warnings.warn(
            "jaxsafe.cpu_compilation.configure() was called after JAX started its backends: "
            "compiling with XLA's default optimisation level",
            stacklevel=2,
        )
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {_LEVEL_FLAG}={OPTIMIZATION_LEVEL}".strip()
    return True
