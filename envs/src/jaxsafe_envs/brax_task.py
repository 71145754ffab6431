"""Shared plumbing for CMDP tasks built on a brax environment.

A task owns one of brax's own environments (``brax.envs.get_environment``) and calls its
``reset``/``step`` unchanged; the task adds cost, extra observation entries and its own
termination on top. ``BraxTask.step`` keeps gymnax's contract: the time limit as *truncation*
(never merged into termination), ``info["final_observation"]``, and an auto-reset that starts
every episode from a random brax initial state.

Why the auto-reset has two paths. Under ``vmap`` a per-environment ``done`` cannot branch, so
gymnax's ``step`` computes the reset state for every environment on every step and selects it
where ``done``:

    s' = select(done, reset(k), step(s, a))

For brax that reset is a ``pipeline_init`` (forward kinematics, centre of mass, mass matrix and
its inverse, contact Jacobian), a few percent of an Ant step, paid on every step although
episodes end every few hundred steps. The reference ``safenax`` package avoids it by carrying
each environment's first state and replaying it on every reset, so each environment restarts
from one and the same state forever.

The default path here is a *reset pool*: ``reset_pool_size`` = P initial states drawn i.i.d.
from brax's own reset (one vmapped ``brax_env.reset`` over P keys from ``reset_pool_seed``),
built once per process for each brax environment, seed and size, the first time ``step`` is
traced. An auto-reset picks an index from the step's reset key and gathers that state:

    s' = select(done, pool[i], step(s, a)),    i = w mod P,   w = key_data(key_reset)[0]

which is a copy of one ~5.6 kB row (Ant, generalized backend) instead of a ``pipeline_init``.
The index costs no random-number generation of its own: the reset key is itself an output of
the step's ``jax.random.split`` (a threefry hash by default), so its raw 32-bit words are
already uniform random bits, and i is one of them reduced modulo P. That makes i uniform on
{0, …, P−1} up to a modulo bias below P/2³² (2.4e-7 for P = 1024; none when P is a power of
two, as the default is), and independent of the step's noise, which ``step_env`` draws from
the other half of the split. (A ``jax.random.randint`` of the reset key would hash it three
more times per environment and step.)
Each episode's start is still drawn at random at every reset, independently of the
environment's earlier episodes and of the other environments; what it gives up is the
continuum: starts come from P fixed draws of brax's start distribution (a bootstrap of it), so
two given episodes share a start with probability 1/P. The pool is a constant of the compiled
program (P × the state size: 5.8 MB for P = 1024 on the Ant), not part of ``params`` or the
per-environment state, so vmapping over params or environments does not copy it. Building it
compiles and runs one vmapped brax reset, a one-off cost of the first ``step`` trace.
``reset_pool_size=0`` restores gymnax's exact path: every auto-reset is ``brax_env.reset`` of the
step's reset key. ``reset`` (the first reset) is always brax's own reset of its key.
"""

from __future__ import annotations

# First, before brax is imported: drops MuJoCo's notice that the optional Warp is absent.
from jaxsafe_envs import warp_notice  # noqa: F401

# isort: split
import functools
from typing import Any

import jax
import jax.numpy as jnp
from brax import envs as brax_envs
from brax.envs.base import PipelineEnv
from flax import struct
from gymnax.environments import environment, spaces

from jaxsafe_envs.reset_pool import PooledAutoReset, draw_pool

BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")
DEFAULT_RESET_POOL_SIZE = 1024


@struct.dataclass
class BraxTaskState:
    brax: brax_envs.State  # brax's own state of the wrapped environment
    time: jax.Array  # int32 steps taken in this episode


@functools.cache
def make_brax_env(name: str, backend: str, **kwargs) -> PipelineEnv:
    """brax's registered environment ``name`` on ``backend``, with a readable error.

    One object per process for the same arguments (brax environments are immutable), so that
    the tasks built on it share its observation size and reset pools.
    """
    if backend not in BRAX_BACKENDS:
        raise ValueError(f"unknown brax backend {backend!r}; valid: {list(BRAX_BACKENDS)}")
    return brax_envs.get_environment(name, backend=backend, **kwargs)


@functools.cache
def brax_observation_size(brax_env: PipelineEnv) -> int:
    """The length of ``brax_env``'s observation, from the shape of its reset.

    brax's own ``observation_size`` runs a reset eagerly, one compiled program per operation
    (about 600 for the Ant, most of a minute on a CPU); only the shape is needed.
    """
    return jax.eval_shape(brax_env.reset, jax.random.PRNGKey(0)).obs.shape[-1]


@functools.cache
def brax_reset_pool(brax_env: PipelineEnv, seed: int, size: int) -> brax_envs.State:
    """``size`` brax initial states of ``brax_env`` from keys split from ``seed``, stacked on a
    leading axis; drawn once per process (:func:`jaxsafe_envs.reset_pool.draw_pool`)."""
    return draw_pool(brax_env.reset, seed, size)


class BraxTask(PooledAutoReset, environment.Environment):
    """Base of the brax CMDP tasks: spaces, horizon, the wrapped brax environment, auto-reset.

    A task implements ``start_episode`` (its state and observation at a given brax initial
    state) and ``step_env``, decorated with ``jaxsafe_envs.invalid_action.guard``; ``reset_env``
    and the auto-reset of ``step`` are built on them.

    Args:
        brax_env: the brax environment whose ``reset``/``step`` the task calls.
        extra_observations: how many entries the task appends to brax's observation.
        reset_pool_size: P, the number of pre-drawn brax initial states the auto-reset picks
            from; 0 runs brax's reset at every auto-reset instead (see the module docstring).
        reset_pool_seed: seed of the keys the pool's states are drawn with.
    """

    def __init__(
        self,
        brax_env: PipelineEnv,
        extra_observations: int = 0,
        reset_pool_size: int = DEFAULT_RESET_POOL_SIZE,
        reset_pool_seed: int = 0,
    ):
        super().__init__()
        if reset_pool_size < 0:
            raise ValueError(
                f"{type(self).__name__}: reset_pool_size must be >= 0 (0: exact resets), "
                f"got {reset_pool_size}"
            )
        self.brax_env = brax_env
        self.reset_pool_size = reset_pool_size
        self.reset_pool_seed = reset_pool_seed
        self._observation_size = brax_observation_size(brax_env) + extra_observations

    @property
    def dt(self) -> jax.Array:
        """Seconds of simulated time per control step."""
        return self.brax_env.dt

    def action_space(self, params=None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.brax_env.action_size,), jnp.float32)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self._observation_size,), jnp.float32)

    def invalid_action_cost(self, params: Any) -> jax.Array:
        """The cost of an invalid action (``jaxsafe_envs.invalid_action``): 1, an unsafe step."""
        return jnp.float32(1.0)

    def start_episode(self, brax_state: brax_envs.State, params: Any) -> tuple[jax.Array, Any]:
        """The task's observation and state at the start of an episode from ``brax_state``."""
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """An episode started from brax's own reset of ``key``."""
        return self.start_episode(self.brax_env.reset(key), params)

    @property
    def reset_pool(self) -> brax_envs.State:
        """The P brax initial states of the auto-reset, stacked on a leading axis.

        Built eagerly on first use, even inside a trace, so that it is a concrete constant, and
        shared by every task on the same brax environment, seed and size.
        """
        return brax_reset_pool(self.brax_env, self.reset_pool_seed, self.reset_pool_size)

    def auto_reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """The episode ``step`` starts where one ends: pool state ``reset_index(key)``, or
        brax's reset of ``key`` when ``reset_pool_size`` is 0."""
        if self.reset_pool_size == 0:
            return self.reset_env(key, params)
        index = self.reset_index(key)
        return self.start_episode(jax.tree.map(lambda leaf: leaf[index], self.reset_pool), params)
