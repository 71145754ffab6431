"""Imports MuJoCo's optional Warp bridge without its notice that Warp is not installed.

brax imports ``mujoco.mjx``, whose ``mujoco.mjx.warp`` tries NVIDIA's optional Warp packages and,
when they are absent, *prints* (to stdout; not a warning, not a log record)::

    Failed to import warp: No module named 'warp'
    Failed to import mujoco_warp: No module named 'warp'

on every command that imports these environments, none of which uses Warp. Importing this
module imports the bridge once with stdout captured and drops exactly those two lines; Python
then caches the bridge, so brax's own import prints nothing. Anything else the bridge prints
(Warp installed but failing to load, say) is passed on to stdout, and its exceptions propagate.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys

WARP_BRIDGE = "mujoco.mjx.warp"

WARP_ABSENT = frozenset(
    {
        "Failed to import warp: No module named 'warp'",
        "Failed to import mujoco_warp: No module named 'warp'",
    }
)
"""The lines the bridge prints when Warp is simply not installed."""


def import_quietly(module: str = WARP_BRIDGE) -> None:
    """Imports ``module`` (if it exists), printing what it prints except :data:`WARP_ABSENT`."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            importlib.import_module(module)
    except ModuleNotFoundError as error:
        if not module.startswith(error.name or "\0"):
            raise  # the module exists but one of its own imports is missing
    finally:
        for line in captured.getvalue().splitlines(keepends=True):
            if line.rstrip("\n") not in WARP_ABSENT:
                sys.stdout.write(line)


import_quietly()
