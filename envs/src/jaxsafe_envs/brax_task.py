"""Shared plumbing for CMDP tasks built on a brax environment.

A task owns one of brax's own environments (``brax.envs.get_environment``) and calls its
``reset``/``step`` unchanged; the task adds cost, extra observation entries and its own
termination on top. gymnax's ``Environment.step`` supplies the rest of the contract: the time
limit as *truncation* (never merged into termination), ``info["final_observation"]``, and an
auto-reset that starts every episode from a fresh random brax state.

The carried state holds a single brax state per environment. (brax's ``AutoResetWrapper``, used
by the reference ``safenax`` package, carries a second copy — the first pipeline state — and
replays it on every reset.) The price of a fresh reset is one ``pipeline_init`` per step, which
``benchmarks/env_throughput.py`` measures against that reference.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax import envs as brax_envs
from brax.envs.base import PipelineEnv
from flax import struct
from gymnax.environments import environment, spaces

BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")


@struct.dataclass
class BraxTaskState:
    brax: brax_envs.State  # brax's own state of the wrapped environment
    time: jax.Array  # int32 steps taken in this episode


def make_brax_env(name: str, backend: str, **kwargs) -> PipelineEnv:
    """brax's registered environment ``name`` on ``backend``, with a readable error."""
    if backend not in BRAX_BACKENDS:
        raise ValueError(f"unknown brax backend {backend!r}; valid: {list(BRAX_BACKENDS)}")
    return brax_envs.get_environment(name, backend=backend, **kwargs)


class BraxTask(environment.Environment):
    """Base of the brax CMDP tasks: spaces, horizon and the wrapped brax environment.

    Args:
        brax_env: the brax environment whose ``reset``/``step`` the task calls.
        extra_observations: how many entries the task appends to brax's observation.
    """

    def __init__(self, brax_env: PipelineEnv, extra_observations: int = 0):
        super().__init__()
        self.brax_env = brax_env
        self._observation_size = brax_env.observation_size + extra_observations

    @property
    def dt(self) -> jax.Array:
        """Seconds of simulated time per control step."""
        return self.brax_env.dt

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.brax_env.action_size,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self._observation_size,), jnp.float32)
