"""jaxsafe's CPU compile setting: LLVM -O2 unless XLA_FLAGS names a level, set before JAX starts.

That XLA then compiles at -O2 is what the golden runs check: 5 of them differ at XLA's -O3.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent(
    """
    import json, os, sys, warnings
    import jax
    from jaxsafe import cpu_compilation
    if sys.argv[1] == "late":
        jax.numpy.zeros(1).block_until_ready()  # starts the backends first
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        added = cpu_compilation.configure()
    print(json.dumps({
        "added": added,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "warnings": [str(w.message) for w in caught],
    }))
    """
)


def _probe(xla_flags: str | None, when: str = "first") -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, when], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_configure_adds_the_level_to_other_flags_and_keeps_a_given_level():
    assert _probe(None) == {
        "added": True,
        "xla_flags": "--xla_backend_optimization_level=2",
        "warnings": [],
    }
    other = _probe("--xla_force_host_platform_device_count=2")
    assert other["added"]
    assert other["xla_flags"] == (
        "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=2"
    )
    kept = _probe("--xla_backend_optimization_level=3")
    assert not kept["added"] and kept["xla_flags"] == "--xla_backend_optimization_level=3"


def test_configure_after_the_backends_started_changes_nothing_and_says_so():
    late = _probe(None, when="late")
    assert not late["added"] and late["xla_flags"] == ""
    assert any("after JAX started its backends" in message for message in late["warnings"])


@pytest.mark.parametrize("module", ["jaxsafe.run", "jaxsafe.eval"])
def test_the_command_line_modules_configure_before_gymnax_starts_jax(module):
    code = f"import {module}, os; print(os.environ.get('XLA_FLAGS', ''))"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning:jaxsafe", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split()[-1] == "--xla_backend_optimization_level=2"
