"""Importing jaxsafe lowers Threefry unrolled on the CPU, with bit-identical random numbers."""

import subprocess
import sys

import jax
import numpy as np

import jaxsafe  # noqa: F401  (registers the lowering)

_DRAWS = """
import jax, numpy as np
key = jax.random.PRNGKey(7)
a, b = jax.random.split(key)
draws = [jax.random.normal(a, (1000,)), jax.random.uniform(b, (333,)),
         jax.random.permutation(key, 257), jax.random.bits(key, (64,))]
draws = [jax.jit(lambda k, f=f: f)(key) for f in draws]
"""


def _draws_in_process():
    scope = {}
    exec(_DRAWS, scope)  # noqa: S102  (the same code as the subprocess runs)
    return [np.asarray(draw) for draw in scope["draws"]]


def test_a_random_draw_has_no_while_loop_on_the_cpu():
    lowered = jax.jit(lambda key: jax.random.normal(key, (8,))).lower(jax.random.PRNGKey(0))
    assert "threefry" in lowered.as_text()
    assert "stablehlo.while" not in lowered.as_text()


def test_draws_equal_those_of_jax_own_cpu_lowering():
    """A process that never imports jaxsafe uses JAX's rolled loop; the numbers are the same."""
    script = _DRAWS + (
        "lowered = jax.jit(lambda k: jax.random.normal(k, (8,))).lower(key).as_text()\n"
        "assert 'stablehlo.while' in lowered, 'expected JAX default rolled loop'\n"
        "print([np.asarray(d).tobytes().hex() for d in draws])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    reference = eval(done.stdout.strip())  # noqa: S307  (our own output: a list of hex strings)
    assert [draw.tobytes().hex() for draw in _draws_in_process()] == reference
