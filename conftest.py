"""Test-session setup shared by ``tests/`` and ``envs/tests/``.

The suite is dominated by XLA compilation, and several tests compile the same program (the
same tiny config trained by different calls). A persistent compilation cache for the session,
also inherited by the subprocesses that tests start, compiles each program once.
"""

import os
import tempfile

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="jaxsafe-xla-cache-"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
