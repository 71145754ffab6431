"""AntCircle: brax's Ant rewarded for running along a circle while staying inside a strip.

Achiam et al., "Constrained Policy Optimization" (ICML 2017), §8 (Ant-Circle: radius 10,
x-limit 3), with the mujoco-circle conventions (Zhang et al., FOCOPS) for the reward velocity:

    r = (−y v_x + x v_y) / (1 + | ‖(x, y)‖ − 10 |),    c = 1[|x| > 3]

where (x, y) is the torso position after the step and v = Δ(x, y)/dt its planar velocity over
the control step. brax's Ant supplies the physics, reset (near the origin) and unhealthy
termination; its own locomotion reward is not used. The observation is brax's Ant observation
with the torso position kept, so ``obs[0], obs[1]`` are x and y. Episodes are truncated after
``episode_length`` (500) steps. Finite actions are clipped to [−1, 1]⁸; an action with a
non-finite component is replaced by zeros, flagged in ``info["invalid_action"]``, costs 1 and
terminates the episode (:mod:`jaxsafe_envs.invalid_action`). The auto-reset restarts from a pool
of pre-drawn brax Ant resets unless ``reset_pool_size=0`` (see ``jaxsafe_envs.brax_task``).
"""

from __future__ import annotations

# First, before brax is imported: drops MuJoCo's notice that the optional Warp is absent.
from jaxsafe_envs import warp_notice  # noqa: F401

# isort: split
from typing import Any

import jax
import jax.numpy as jnp
from brax import envs as brax_envs
from flax import struct

from jaxsafe_envs import invalid_action
from jaxsafe_envs.brax_task import (
    DEFAULT_RESET_POOL_SIZE,
    BraxTask,
    BraxTaskState,
    make_brax_env,
)


@struct.dataclass
class AntCircleParams:
    """Traced constants of AntCircle; any of them can be vmapped over."""

    radius: jax.Array
    x_limit: jax.Array
    max_steps_in_episode: jax.Array


class AntCircle(BraxTask):
    """AntCircle as a gymnax environment with its per-step cost in ``info["cost"]``.

    Args:
        radius: circle radius.
        x_limit: the cost is paid while |x| exceeds it.
        backend: brax physics backend.
        episode_length: truncation horizon.
        reset_pool_size: P pre-drawn brax initial states the auto-reset picks from (default
            1024); 0 runs brax's reset at every auto-reset. See ``jaxsafe_envs.brax_task``.
        reset_pool_seed: seed the pool is drawn with.
    """

    def __init__(
        self,
        radius: float = 10.0,
        x_limit: float = 3.0,
        backend: str = "generalized",
        episode_length: int = 500,
        reset_pool_size: int = DEFAULT_RESET_POOL_SIZE,
        reset_pool_seed: int = 0,
    ):
        if radius <= 0 or x_limit < 0 or episode_length < 1:
            raise ValueError(
                "AntCircle: radius and episode_length must be positive, x_limit non-negative"
            )
        ant = make_brax_env("ant", backend, exclude_current_positions_from_observation=False)
        super().__init__(ant, reset_pool_size=reset_pool_size, reset_pool_seed=reset_pool_seed)
        self._default_params = AntCircleParams(
            radius=jnp.float32(radius),
            x_limit=jnp.float32(x_limit),
            max_steps_in_episode=jnp.int32(episode_length),
        )

    @property
    def default_params(self) -> AntCircleParams:
        return self._default_params

    @property
    def name(self) -> str:
        return "AntCircle-v1"

    def start_episode(
        self, ant: brax_envs.State, params: AntCircleParams
    ) -> tuple[jax.Array, BraxTaskState]:
        return ant.obs, BraxTaskState(brax=ant, time=jnp.int32(0))

    @invalid_action.guard
    def step_env(
        self, key: jax.Array, state: BraxTaskState, action: jax.Array, params: AntCircleParams
    ) -> tuple[jax.Array, BraxTaskState, jax.Array, jax.Array, dict[str, Any]]:
        ant = self.brax_env.step(state.brax, jnp.clip(action, -1.0, 1.0))
        x0, y0 = state.brax.pipeline_state.x.pos[0, :2]
        x, y = ant.pipeline_state.x.pos[0, :2]
        vx, vy = (x - x0) / self.dt, (y - y0) / self.dt

        reward = (-y * vx + x * vy) / (1.0 + jnp.abs(jnp.hypot(x, y) - params.radius))
        cost = (jnp.abs(x) > params.x_limit).astype(jnp.float32)

        state = BraxTaskState(brax=ant, time=state.time + 1)
        return ant.obs, state, reward, ant.done > 0.5, {"cost": cost}
