"""jaxsafe: safe (constrained) reinforcement learning compiled end to end in JAX."""

from jaxsafe.threefry_lowering import use_unrolled_rounds_on_cpu

__version__ = "0.1.0"

use_unrolled_rounds_on_cpu()
