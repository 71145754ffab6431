"""The cost-augmented state s̃_t = (s_t, C_t / d, γ_c^t, t / T) of risk-constrained methods.

Tangri & Calliess, "VaR-CPO" (arXiv 2601.22993), eq. (28); VARCPO.md §2. The augmented cost
ĉ_t = β γ^t c_t² + 2 (β C_t + d) c_t depends on the episode's discounted cost so far
C_t = Σ_{k<t} γ_c^k c_k and on γ_c^t, so the policy and every critic must see them for their
cost-to-go to be Markov. For finite-horizon tasks the elapsed-time fraction t/T is appended as
well (T is ``params.max_steps_in_episode``). All three features restart with each episode.

:class:`CostAugmentedEnv` wraps any gymnax environment with cost in ``info["cost"]`` and
appends the three features to its observation, including ``info["final_observation"]`` (the
features *after* the final step), so that bootstrapping at truncations sees s̃'_t.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

NUM_FEATURES = 3


@struct.dataclass
class CostAugmentedState:
    env_state: Any  # the wrapped environment's state
    cost_so_far: jax.Array  # C_t
    cost_discount_factor: jax.Array  # γ_c^t
    time: jax.Array  # int32 t, steps taken in this episode


class CostAugmentedEnv(environment.Environment):
    """``env`` with observations ``[obs, C_t / cost_scale, γ_c^t, t / T]``.

    Args:
        env: a gymnax environment whose ``info["cost"]`` is the per-step cost.
        cost_discount: γ_c, the discount of the constrained cost return.
        cost_scale: divides C_t in the observation (the VaR threshold d), so the feature is
            of order one.
    """

    def __init__(self, env: environment.Environment, cost_discount: float, cost_scale: float):
        super().__init__()
        self.env = env
        self.cost_discount = float(cost_discount)
        self.cost_scale = float(max(cost_scale, 1e-6))

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def name(self) -> str:
        return f"CostAugmented({self.env.name})"

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def action_space(self, params: Any = None) -> Any:
        return self.env.action_space(params)

    def observation_space(self, params: Any = None) -> spaces.Box:
        inner = self.env.observation_space(params)
        (size,) = inner.shape
        return spaces.Box(-np.inf, np.inf, (size + NUM_FEATURES,), jnp.float32)

    def _augment(self, observation, cost_so_far, cost_discount_factor, time, params):
        features = jnp.stack(
            [
                cost_so_far / self.cost_scale,
                cost_discount_factor,
                time / params.max_steps_in_episode,
            ]
        ).astype(observation.dtype)
        return jnp.concatenate([observation, features], axis=-1)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, CostAugmentedState]:
        observation, env_state = self.env.reset(key, params)
        state = CostAugmentedState(env_state, jnp.float32(0.0), jnp.float32(1.0), jnp.int32(0))
        return self._augment(observation, 0.0, 1.0, 0, params), state

    def _advance(self, state: CostAugmentedState, cost: jax.Array):
        """(C_{t+1}, γ^{t+1}, t + 1) after a step of cost c_t."""
        return (
            state.cost_so_far + state.cost_discount_factor * cost,
            state.cost_discount_factor * self.cost_discount,
            state.time + 1,
        )

    def step_env(self, key: jax.Array, state: CostAugmentedState, action: Any, params: Any):
        """One step without auto-reset (gymnax's ``step_env``)."""
        observation, env_state, reward, terminated, info = self.env.step_env(
            key, state.env_state, action, params
        )
        features = self._advance(state, info["cost"])
        observation = self._augment(observation, *features, params)
        return observation, CostAugmentedState(env_state, *features), reward, terminated, info

    def is_truncated(self, state: CostAugmentedState, params: Any) -> jax.Array:
        return self.env.is_truncated(state.env_state, params)

    def step(self, key: jax.Array, state: CostAugmentedState, action: Any, params: Any = None):
        """The wrapped environment's step, with its own auto-reset, and the features."""
        params = self.default_params if params is None else params
        observation, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        cost_so_far, cost_discount_factor, time = self._advance(state, info["cost"])
        final_observation = self._augment(
            info["final_observation"], cost_so_far, cost_discount_factor, time, params
        )
        done = terminated | truncated
        cost_so_far = jnp.where(done, 0.0, cost_so_far)
        cost_discount_factor = jnp.where(done, 1.0, cost_discount_factor)
        time = jnp.where(done, 0, time)
        observation = self._augment(observation, cost_so_far, cost_discount_factor, time, params)
        state = CostAugmentedState(env_state, cost_so_far, cost_discount_factor, time)
        return (
            observation,
            state,
            reward,
            terminated,
            truncated,
            {**info, "final_observation": final_observation},
        )


def unwrapped(env: Any) -> Any:
    """The environment inside any :class:`CostAugmentedEnv`."""
    return env.env if isinstance(env, CostAugmentedEnv) else env


def inner_state(env_state: Any) -> Any:
    """The wrapped environment's state inside a :class:`CostAugmentedState`."""
    return env_state.env_state if isinstance(env_state, CostAugmentedState) else env_state
