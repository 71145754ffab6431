"""Faster XLA compilation on the CPU: LLVM at -O2, and Threefry's rounds unrolled.

XLA compilation is most of a short run's time on a CPU, and most of the test suite's. Two
settings halve it for jaxsafe's programs, measured on the golden runs' programs
(``tests/golden_runs.py``, one core): ``cpo`` on IcyLake compiles in 24 s instead of 47 s,
``ppo_lag`` on PointCircle in 21 s instead of 38 s, and the compiled programs run as fast.

1. **Threefry unrolled.** JAX's default PRNG is Threefry-2x32 (Salmon et al., "Parallel random
   numbers: as easy as 1, 2, 3", SC 2011): 20 rounds of 32-bit add, rotate and xor, with a key
   injection every 4 rounds. On the CPU, JAX lowers every random draw to a ``while`` loop over
   the 5 groups of 4 rounds; on GPUs it emits the 20 rounds unrolled. A training program holds
   dozens of draws (action sampling, environment noise, minibatch permutations, network
   initialisation), and XLA's CPU compiler spends far longer on the loops than on straight-line
   code. The arithmetic is integer and identical either way, so every random number is bit for
   bit the same.
2. **LLVM at -O2** (``--xla_backend_optimization_level=2``; XLA's default is 3). Alone it saves
   about a fifth of the compile time. It is also what makes (1) safe: at -O3, LLVM's loop
   vectorizer can take exponential time on unrolled Threefry inside large loops (the
   PointTrap evaluation program of ``ppo_lag``, vmapped over 4 seeds, compiled for more than
   40 minutes; in 6–10 s at -O2, and in 9 s at -O3 with the rolled loops). Floating-point
   results can differ from -O3 in their last bits: 5 of the 20 golden runs did (``cpo``,
   ``trpo_lag`` and ``varcpo`` on PointCircle, and ``csc``) and were regenerated for it.

:func:`configure` sets both for the process. XLA reads its flags when JAX starts its
backends, and importing gymnax does that (it builds an array at import), so the callers call it
first: ``jaxsafe.run`` and ``jaxsafe.eval`` at their import, the benchmarks through their
``reporting`` module, the test suite in ``conftest.py``. ``import jaxsafe`` alone changes
nothing, so a program that imports the library compiles with XLA's defaults. An
optimisation level already in ``XLA_FLAGS`` is respected: at a level above 2, Threefry keeps
JAX's rolled loops (``XLA_FLAGS=--xla_backend_optimization_level=3`` restores XLA's defaults).
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
from jax import lax
from jax._src import prng, xla_bridge
from jax._src.interpreters import mlir

OPTIMIZATION_LEVEL = 2
"""LLVM's optimisation level for XLA's CPU backend; the highest at which Threefry is unrolled."""

_LEVEL_FLAG = re.compile(r"--xla_backend_optimization_level=(\d+)")
_ROTATIONS = (np.array([13, 15, 26, 6], np.uint32), np.array([17, 29, 16, 24], np.uint32))
_KEY_SCHEDULE_PARITY = np.uint32(0x1BD11BDA)


def threefry2x32_unrolled(key1, key2, count1, count2):
    """Threefry-2x32 with its 20 rounds written out (Salmon et al. 2011, Fig. 2).

    ``(key1, key2)`` is the key, ``(count1, count2)`` the counter words; all ``uint32`` arrays
    of one shape. Five groups of four rounds; after group ``g`` the key words
    ``ks[(g + 1) % 3]`` and ``ks[(g + 2) % 3] + g + 1`` are injected, with
    ``ks = (key1, key2, key1 ^ key2 ^ 0x1BD11BDA)``.
    """
    ks = (key1, key2, key1 ^ key2 ^ _KEY_SCHEDULE_PARITY)
    x = [count1 + ks[0], count2 + ks[1]]
    for group in range(5):
        for rotation in _ROTATIONS[group % 2]:
            x[0] = x[0] + x[1]
            x[1] = lax.shift_left(x[1], rotation) | lax.shift_right_logical(
                x[1], np.uint32(32) - rotation
            )
            x[1] = x[0] ^ x[1]
        x = [x[0] + ks[(group + 1) % 3], x[1] + ks[(group + 2) % 3] + np.uint32(group + 1)]
    return tuple(x)


def configure() -> bool:
    """Sets LLVM -O2 and unrolled Threefry for this process's CPU programs, where possible.

    Call it before the first computation: XLA reads its flags when JAX starts its backends.

    Returns:
        Whether Threefry is now lowered unrolled on the CPU. ``False`` when ``XLA_FLAGS``
        already asks for a level above :data:`OPTIMIZATION_LEVEL`, and, with a warning, when
        JAX's backends were started before this call (nothing is changed then).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    requested = _LEVEL_FLAG.findall(flags)
    if requested:
        level = int(requested[-1])
    else:
        if xla_bridge.backends_are_initialized():
            warnings.warn(
                "jaxsafe.cpu_compilation.configure() was called after JAX started its backends: "
                "compiling with XLA's default settings",
                stacklevel=2,
            )
            return False
        level = OPTIMIZATION_LEVEL
        os.environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level={level}".strip()
    if level > OPTIMIZATION_LEVEL:
        return False
    lowering = mlir.lower_fun(threefry2x32_unrolled, multiple_results=True)
    mlir.register_lowering(prng.threefry2x32_p, lowering, platform="cpu")
    return True
