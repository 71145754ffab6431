"""Test-session setup shared by ``tests/`` and ``envs/tests/``.

The suite is dominated by XLA compilation, and several tests compile the same program (the
same tiny config trained by different calls). A persistent compilation cache for the session,
also inherited by the subprocesses that tests start, compiles each program once; the cache is
a temporary directory, removed when the session ends.
"""

import os
import shutil
import tempfile

import pytest

from jaxsafe import cpu_compilation

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _SESSION_CACHE = tempfile.mkdtemp(prefix="jaxsafe-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _SESSION_CACHE
else:
    _SESSION_CACHE = None
# pytest-xdist runs several test processes; on a GPU each would otherwise reserve most memory.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
# Compile as jaxsafe-run does (LLVM -O2); XLA_FLAGS carries the level on to
# the subprocesses that tests start.
cpu_compilation.configure()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)
