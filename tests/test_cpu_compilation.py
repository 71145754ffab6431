"""jaxsafe's CPU compile settings: unrolled Threefry keeps the bits; a set level is respected."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe import cpu_compilation

# Known-answer vectors of Threefry-2x32 with 20 rounds, from Random123 (Salmon et al. 2011),
# as (key, counter, output).
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize(("key", "counter", "expected"), KNOWN_ANSWERS)
def test_unrolled_threefry_gives_the_known_answers(key, counter, expected):
    words = [jnp.asarray(np.uint32(w)) for w in (*key, *counter)]
    output = jax.jit(cpu_compilation.threefry2x32_unrolled)(*words)
    assert tuple(int(w) for w in output) == expected


_PROBE = textwrap.dedent(
    """
    import json, os, sys, warnings
    import jax
    from jaxsafe import cpu_compilation
    if sys.argv[1] == "late":
        jax.numpy.zeros(1).block_until_ready()  # starts the backends first
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        unrolled = cpu_compilation.configure()
    key = jax.random.key(7)
    print(json.dumps({
        "unrolled": unrolled,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "warnings": [str(w.message) for w in caught],
        "bits": jax.random.bits(key, (64,)).tolist(),
        "split": jax.random.key_data(jax.random.split(key, 3)).tolist(),
        "while_loops": jax.jit(lambda k: jax.random.bits(k, (4,))).lower(key).as_text().count(
            "stablehlo.while"),
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


def test_configure_sets_the_level_unrolls_threefry_and_keeps_every_random_bit():
    default = _probe(None)
    assert default["unrolled"] and default["while_loops"] == 0
    assert "--xla_backend_optimization_level=2" in default["xla_flags"]
    xla_default = _probe("--xla_backend_optimization_level=3")  # respected: JAX's rolled loops
    assert not xla_default["unrolled"] and xla_default["while_loops"] > 0
    assert xla_default["xla_flags"] == "--xla_backend_optimization_level=3"
    assert default["bits"] == xla_default["bits"]
    assert default["split"] == xla_default["split"]


def test_configure_after_the_backends_started_changes_nothing_and_says_so():
    late = _probe(None, when="late")
    assert not late["unrolled"] and late["while_loops"] > 0
    assert late["xla_flags"] == ""
    assert any("after JAX started its backends" in message for message in late["warnings"])
