"""A host-side, batched, Safety-Gymnasium-style view of a jaxsafe environment.

For code outside JAX (PyTorch agents, existing Safety-Gymnasium loops): ``reset()`` and
``step(actions)`` take and return numpy arrays for ``num_envs`` environments stepped together
by one jitted, vmapped call, and ``step`` returns Safety-Gymnasium's six-tuple
``(obs, reward, cost, terminated, truncated, info)``. Sub-environments reset automatically: the
observation returned at an episode end is the next episode's first, and the last observation
of the finished episode is in ``info["final_observation"]``.

Requires the ``gymnasium`` extra for the spaces.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import numpy as np
from gymnax.environments import spaces as gymnax_spaces

from jaxsafe_envs.registry import make


class GymnasiumCMDP:
    """``num_envs`` copies of a registered environment behind a numpy interface.

    Args:
        name: a registered environment name (see ``jaxsafe_envs.registered()``).
        num_envs: how many environments each call steps.
        seed: seed of the JAX random key that drives resets and transitions.
        **kwargs: keyword options of the environment.
    """

    def __init__(self, name: str, num_envs: int = 1, seed: int = 0, **kwargs: Any):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.env, self.params = make(name, **kwargs)
        self.num_envs = num_envs
        self.single_observation_space = _to_gymnasium(self.env.observation_space(self.params))
        self.single_action_space = _to_gymnasium(self.env.action_space(self.params))
        self._key = jax.random.key(seed)
        self._state = None
        self._reset = jax.jit(jax.vmap(self.env.reset, in_axes=(0, None)))
        self._step = jax.jit(jax.vmap(self.env.step, in_axes=(0, 0, 0, None)))

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts every environment afresh; returns ``(obs, info)``."""
        if seed is not None:
            self._key = jax.random.key(seed)
        obs, self._state = self._reset(self._split(), self.params)
        return np.asarray(obs), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Steps every environment once.

        Returns:
            ``(obs, reward, cost, terminated, truncated, info)``, each with a leading
            ``num_envs`` axis; ``info`` holds the environment's own entries as numpy arrays.
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(f"actions need a leading axis of {self.num_envs}, got {actions.shape}")
        obs, self._state, reward, terminated, truncated, info = self._step(
            self._split(), self._state, actions, self.params
        )
        info = jax.tree.map(np.asarray, info)
        return (
            np.asarray(obs),
            np.asarray(reward),
            info["cost"],
            np.asarray(terminated),
            np.asarray(truncated),
            info,
        )

    def close(self) -> None:
        self._state = None

    def _split(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return jax.random.split(key, self.num_envs)


def _to_gymnasium(space: gymnax_spaces.Space) -> gymnasium.Space:
    if isinstance(space, gymnax_spaces.Discrete):
        return gymnasium.spaces.Discrete(space.n)
    if isinstance(space, gymnax_spaces.Box):
        low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)
        high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)
        return gymnasium.spaces.Box(low, high, space.shape, np.float32)
    raise TypeError(f"no gymnasium equivalent for {type(space).__name__}")
