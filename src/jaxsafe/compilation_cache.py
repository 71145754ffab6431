"""JAX's persistent compilation cache, on by default for ``jaxsafe-run``, ``jaxsafe-eval`` and
the benchmarks.

XLA compilation is most of a short run's time on a CPU (the README's main job compiled for
about half of its 82 s). JAX can keep every compiled program on disk, keyed by the program,
the jax/jaxlib version, the device and the compile options, so that a second run of the same
config loads its programs instead of compiling them again. A program whose key differs (a
changed config, another number of seeds, an upgraded jax) just compiles anew; stale entries
are never used, only left on disk.

Where it goes, in order:

1. the ``--compilation_cache`` flag (``run``/``eval``; ``--compilation-cache`` in the
   benchmarks): a directory, or ``off``;
2. else ``JAX_COMPILATION_CACHE_DIR``, JAX's own variable, when it is set (the test suite sets
   a per-session directory this way);
3. else ``$XDG_CACHE_HOME/jaxsafe/xla`` (``~/.cache/jaxsafe/xla``).

The cache can be deleted at any time (``rm -rf ~/.cache/jaxsafe``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import jax

OFF = "off"
FLAG_HELP = (
    "Directory of the persistent XLA compilation cache (a second run of a config loads its "
    "compiled programs instead of compiling them), or 'off'. Default: JAX_COMPILATION_CACHE_DIR "
    "if set, else ~/.cache/jaxsafe/xla."
)
MIN_COMPILE_SECONDS = 0.5
"""Programs that compile faster than this are not stored (JAX's own default is 1 s); the
training chunk, ``init`` and evaluation programs all take longer on a CPU."""


def default_directory() -> Path:
    """``$XDG_CACHE_HOME/jaxsafe/xla``, or ``~/.cache/jaxsafe/xla``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxsafe" / "xla"


def configure(setting: str | None = None) -> Path | None:
    """Turns the persistent cache on (or off) for this process; returns its directory.

    Call it before the first compilation: JAX reads the setting when it first compiles.

    Args:
        setting: a directory, ``"off"``, or ``None`` for the default (``JAX_COMPILATION_CACHE_DIR``
            when set, else :func:`default_directory`).

    Returns:
        The cache directory, or ``None`` when the cache is off; a directory that cannot be
        created or written turns it off with a warning (a run never fails for its cache).
    """
    if setting is not None and setting.strip().lower() == OFF:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    if setting:
        directory = Path(setting).expanduser()
    else:
        directory = Path(os.environ.get("JAX_COMPILATION_CACHE_DIR") or default_directory())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        writable = os.access(directory, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        warnings.warn(
            f"compilation cache {directory} is not a writable directory: compiling without "
            f"it (set --compilation_cache to another directory, or to {OFF!r})",
            stacklevel=2,
        )
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
