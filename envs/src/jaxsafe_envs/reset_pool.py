"""Auto-reset from a pool of pre-drawn initial states, shared by tasks whose reset is costly.

gymnax 1.0's ``Environment.step`` computes ``reset_env`` on every step (and selects it where an
episode ended), so under ``vmap`` a costly reset (brax's ``pipeline_init``, PointGoal's layout
sampler) is paid at every step. A task with :class:`PooledAutoReset` instead restarts from entry
``reset_index(key_reset)`` of a pool of ``reset_pool_size`` = P initial states drawn once: the
first raw 32-bit word of the step's reset key modulo P, so no random number is drawn. It
provides ``step`` (gymnax's, with the task's ``auto_reset`` in place of ``reset_env``) and
``reset_index``; the task provides ``reset_pool_size`` and ``auto_reset(key, params)``, which
must be ``reset_env(key, params)`` when ``reset_pool_size`` is 0 (gymnax's exact behaviour).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def draw_pool(draw: Callable[..., Any], seed: int, size: int, *shared: Any) -> Any:
    """``vmap(draw)(keys, *shared)`` over ``size`` keys split from ``jax.random.key(seed)``,
    as concrete arrays even when called inside a trace (a pool is a constant of the program).

    Only the keys are made under ``jax.ensure_compile_time_eval``; the draw is lowered and
    compiled outside it and then run on them. Tracing the draw itself under that context would
    dispatch every operation on concrete constants (brax's system) one by one, each compiled on
    its own: about 300 tiny compilations for the Ant, most of the time it took to build its pool.
    """
    with jax.ensure_compile_time_eval():
        keys = jax.random.split(jax.random.key(seed), size)
    in_axes = (0,) + (None,) * len(shared)
    compiled = jax.jit(jax.vmap(draw, in_axes=in_axes)).lower(keys, *shared).compile()
    return jax.block_until_ready(compiled(keys, *shared))


class PooledAutoReset:
    """gymnax's ``step`` with the task's ``auto_reset`` in place of ``reset_env``."""

    reset_pool_size: int

    def auto_reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def reset_index(self, key: jax.Array) -> jax.Array:
        """The pool index an auto-reset with reset key ``key`` restarts from (int32 in
        {0, …, P−1}): the first 32-bit word of ``key``'s raw data, modulo P.

        ``key`` must be uniform random bits, as every key ``jax.random.split`` returns is
        (``step`` passes the second half of its split); then the index is uniform up to a
        modulo bias below P/2³², and exactly uniform when P is a power of two. No random
        numbers are drawn here.
        """
        if self.reset_pool_size == 0:
            raise ValueError(f"{type(self).__name__}: reset_pool_size=0 has no reset pool")
        word = jax.random.key_data(key)[..., 0]
        return jax.lax.rem(word, jnp.uint32(self.reset_pool_size)).astype(jnp.int32)

    @functools.partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """gymnax's ``Environment.step`` with ``auto_reset`` in place of ``reset_env``.

        Same key split, truncation, select and ``info`` entries as gymnax 1.0's, so with
        ``reset_pool_size=0`` it returns exactly what gymnax's ``step`` does.
        """
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_step, state_step, reward, terminated, info = self.step_env(
            key_step, state, action, params
        )
        truncated = self.is_truncated(state_step, params)
        done = jnp.logical_or(terminated, truncated)
        obs_reset, state_reset = self.auto_reset(key_reset, params)
        state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), state_reset, state_step)
        obs = jax.lax.select(done, obs_reset, obs_step)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_step,
        }
        return obs, state, reward, terminated, truncated, info
