"""jaxsafe: safe (constrained) reinforcement learning compiled end to end in JAX."""

__version__ = "0.1.0"
