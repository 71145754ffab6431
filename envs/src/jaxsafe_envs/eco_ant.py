"""EcoAnt: brax's Ant running on a battery that noisy, energy-hungry motors drain.

Tangri & Calliess, "VaR-CPO" (arXiv 2601.22993), §5.2. Each step the commanded action is
perturbed by motor noise, and the perturbed action drives the physics and pays the energy:

    a' = clip(a + σ ε, −1, 1),  ε ~ N(0, I)        (noise drawn from the step key)
    E  = ½ Σᵢ a'ᵢ²  (≤ 4 for the 8 Ant motors)
    B ← B − E;  the battery is depleted when B ≤ 0, which terminates the episode.

Reward and unhealthy termination are brax's Ant's (forward velocity + 1 − 0.5 Σ a'²,
torso height outside [0.2, 1.0]). The observation is brax's Ant observation followed by the
battery fraction max(B, 0)/B_max (1 at reset). ``EcoAnt-v1`` pays a sparse cost, 1 on the
depleting step; ``EcoAnt-v2`` pays the dense cost E every step. Episodes are truncated after
``episode_length`` steps. With ``noise_scale=0`` the task reproduces brax's Ant step for step.

An action with a non-finite component is replaced by zeros (the motors then see the noise only),
flagged in ``info["invalid_action"]``, costs at least what one valid step can (1 for v1, 4 for
v2) and terminates the episode (:mod:`jaxsafe_envs.invalid_action`).

``reset(key)`` is brax's Ant reset of ``key``. The auto-reset inside ``step`` restarts from one
of ``reset_pool_size`` (1024) pre-drawn brax Ant resets, picked uniformly by the bits of the
step's reset key, which saves a ``pipeline_init`` per step under ``vmap``;
``reset_pool_size=0`` runs brax's reset at every auto-reset instead (``jaxsafe_envs.brax_task``
explains the trade-off).
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

COST_KINDS = ("sparse", "dense")


@struct.dataclass
class EcoAntParams:
    """Traced constants of EcoAnt; any of them can be vmapped over."""

    battery: jax.Array  # capacity B_max
    noise_scale: jax.Array  # motor noise σ
    max_steps_in_episode: jax.Array  # truncation horizon


@struct.dataclass
class EcoAntState(BraxTaskState):
    battery: jax.Array  # remaining charge B, ≤ 0 once depleted


class EcoAnt(BraxTask):
    """EcoAnt as a gymnax environment with its per-step cost in ``info["cost"]``.

    Args:
        cost: ``"sparse"`` (EcoAnt-v1: 1 on the depleting step) or ``"dense"`` (EcoAnt-v2: E).
        battery: battery capacity B_max (500 in the paper's safe start, 50 in its unsafe start).
        noise_scale: motor noise σ.
        backend: brax physics backend.
        episode_length: truncation horizon.
        reset_pool_size: P pre-drawn brax initial states the auto-reset picks from (default
            1024); 0 runs brax's reset at every auto-reset. See ``jaxsafe_envs.brax_task``.
        reset_pool_seed: seed the pool is drawn with.
    """

    def __init__(
        self,
        cost: str = "dense",
        battery: float = 500.0,
        noise_scale: float = 0.1,
        backend: str = "generalized",
        episode_length: int = 1000,
        reset_pool_size: int = DEFAULT_RESET_POOL_SIZE,
        reset_pool_seed: int = 0,
    ):
        if cost not in COST_KINDS:
            raise ValueError(f"EcoAnt: unknown cost {cost!r}; valid: {list(COST_KINDS)}")
        if battery <= 0 or noise_scale < 0 or episode_length < 1:
            raise ValueError(
                "EcoAnt: battery and episode_length must be positive, noise_scale non-negative"
            )
        super().__init__(
            make_brax_env("ant", backend),
            extra_observations=1,
            reset_pool_size=reset_pool_size,
            reset_pool_seed=reset_pool_seed,
        )
        self.cost_kind = cost
        self._default_params = EcoAntParams(
            battery=jnp.float32(battery),
            noise_scale=jnp.float32(noise_scale),
            max_steps_in_episode=jnp.int32(episode_length),
        )

    @property
    def default_params(self) -> EcoAntParams:
        return self._default_params

    @property
    def name(self) -> str:
        return "EcoAnt-v1" if self.cost_kind == "sparse" else "EcoAnt-v2"

    def start_episode(
        self, ant: brax_envs.State, params: EcoAntParams
    ) -> tuple[jax.Array, EcoAntState]:
        state = EcoAntState(brax=ant, time=jnp.int32(0), battery=params.battery)
        return self._observation(ant.obs, state.battery, params), state

    def invalid_action_cost(self, params: EcoAntParams) -> jax.Array:
        """The cost of an invalid action (``jaxsafe_envs.invalid_action``): the most one valid
        step can cost, 1 (sparse) or ½ · (number of motors) = 4 (dense)."""
        most = 1.0 if self.cost_kind == "sparse" else 0.5 * self.brax_env.action_size
        return jnp.float32(most)

    @invalid_action.guard_without_replacing
    def step_env(
        self, key: jax.Array, state: EcoAntState, action: jax.Array, params: EcoAntParams
    ) -> tuple[jax.Array, EcoAntState, jax.Array, jax.Array, dict[str, Any]]:
        noise = params.noise_scale * jax.random.normal(key, action.shape)
        # An invalid action is the zero action: a' = clip(0 + σ ε). (Selecting between two
        # clipped sums instead changed brax's eager step by ~3e-5, test_semantics.)
        _, invalid = invalid_action.replace_invalid(action, self.action_space(params))
        applied = jnp.clip(jnp.where(invalid, 0.0, action) + noise, -1.0, 1.0)
        energy = 0.5 * jnp.sum(jnp.square(applied))
        battery = state.battery - energy
        depleted = battery <= 0.0

        ant = self.brax_env.step(state.brax, applied)
        terminated = (ant.done > 0.5) | depleted
        cost = depleted.astype(jnp.float32) if self.cost_kind == "sparse" else energy

        state = EcoAntState(brax=ant, time=state.time + 1, battery=battery)
        info = {
            "cost": cost.astype(jnp.float32),
            "energy": energy,
            "battery": jnp.maximum(battery, 0.0),
            "depleted": depleted,
        }
        return self._observation(ant.obs, battery, params), state, ant.reward, terminated, info

    def _observation(self, ant_obs: jax.Array, battery: jax.Array, params: EcoAntParams):
        fraction = jnp.maximum(battery, 0.0) / params.battery
        return jnp.concatenate([ant_obs, fraction[None]]).astype(jnp.float32)
