"""Gymnasium views of a jaxsafe environment, for code outside JAX (PyTorch agents, existing
Safety-Gymnasium loops).

- :class:`GymnasiumCMDP` is a ``gymnasium.vector.VectorEnv`` of ``num_envs`` copies of a
  registered environment, stepped together by one jitted, vmapped call, numpy in and out. Its
  ``step`` returns Safety-Gymnasium's six-tuple ``(obs, reward, cost, terminated, truncated,
  info)``, as Safety-Gymnasium's own vector environments do.
- :class:`CostInInfo` wraps it into Gymnasium's five-tuple ``(obs, reward, terminated,
  truncated, info)``, the cost staying in ``info["cost"]``, for Gymnasium's vector wrappers.
- :class:`GymnasiumEnv` is one environment as a plain ``gymnasium.Env`` (five-tuple, cost in
  ``info["cost"]``, no auto-reset: call ``reset`` after an episode ends); it passes
  ``gymnasium.utils.env_checker.check_env``.

Auto-reset of the vector environment is Gymnasium's same-step mode
(``metadata["autoreset_mode"] = AutoresetMode.SAME_STEP``): the observation returned where an
episode ended is the next episode's first. The finished episode's last observation is in
``info["final_obs"]`` (Gymnasium's key: an object array holding ``None`` where no episode ended,
with the mask ``info["_final_obs"]``) and, densely for every environment, in
``info["final_observation"]`` (equal to the returned observation where no episode ended). Every
other ``info`` entry, ``cost`` included, belongs to the step just taken, one numpy array per
entry with a leading ``num_envs`` axis.

Actions are checked before they reach JAX, and a bad batch raises a one-line ``ValueError``
naming what was expected and what came: the shape must be ``action_space.shape`` (``num_envs``
first); a discrete action must be an integer in {0, …, n−1}; a box action must be finite. A
finite box action outside the box is accepted and clipped by the environment (see the
environment's docstring), as MuJoCo clips its controls.

Requires the ``gymnasium`` extra.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from gymnax.environments import spaces as gymnax_spaces

from jaxsafe_envs.registry import make


class GymnasiumCMDP(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of a registered environment as a Gymnasium vector environment.

    Args:
        name: a registered environment name (see ``jaxsafe_envs.registered()``).
        num_envs: how many environments each call steps.
        seed: seed of the JAX random key that drives resets and transitions, until ``reset``
            is given another.
        **kwargs: keyword options of the environment.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, name: str, num_envs: int = 1, seed: int = 0, **kwargs: Any):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.env, self.params = make(name, **kwargs)
        self.num_envs = num_envs
        self.single_observation_space = _to_gymnasium(self.env.observation_space(self.params))
        self.single_action_space = _to_gymnasium(self.env.action_space(self.params))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._key = jax.random.key(seed)
        self._state = None
        self._reset = jax.jit(jax.vmap(self.env.reset, in_axes=(0, None)))
        self._step = jax.jit(jax.vmap(self.env.step, in_axes=(0, 0, 0, None)))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts every environment afresh; returns ``(obs [num_envs, ...], {})``.

        ``seed`` restarts the JAX key (and Gymnasium's ``np_random``); without it the key goes
        on from where it was. No ``options`` are supported.
        """
        if seed is not None and not isinstance(seed, int | np.integer):
            raise ValueError(f"reset: expected an int seed or None, got {seed!r}")
        if options:
            raise ValueError(f"reset: expected no options, got {sorted(options)}")
        super().reset(seed=seed)
        if seed is not None:
            self._key = jax.random.key(seed)
        obs, self._state = self._reset(self._split(), self.params)
        return np.asarray(obs), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Steps every environment once with ``actions`` (shape ``action_space.shape``).

        Returns:
            ``(obs, reward, cost, terminated, truncated, info)``, each with a leading
            ``num_envs`` axis; ``info`` holds the environment's own entries as numpy arrays and
            ``final_obs``/``_final_obs`` (see the module docstring).

        Raises:
            ValueError: for actions of the wrong shape, a discrete action out of range or a
                non-finite box action.
            RuntimeError: before the first ``reset``.
        """
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        actions = check_actions(actions, self.single_action_space, self.num_envs)
        obs, self._state, reward, terminated, truncated, info = self._step(
            self._split(), self._state, actions, self.params
        )
        info = {name: np.asarray(value) for name, value in info.items()}
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        done = terminated | truncated
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(done):
            final_obs[i] = info["final_observation"][i]
        info["final_obs"], info["_final_obs"] = final_obs, done
        return np.asarray(obs), np.asarray(reward), info["cost"], terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._state = None

    def _split(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return jax.random.split(key, self.num_envs)


class CostInInfo(gymnasium.vector.VectorWrapper):
    """A :class:`GymnasiumCMDP` with Gymnasium's five-tuple ``step``: ``(obs, reward,
    terminated, truncated, info)``, the cost in ``info["cost"]``."""

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, _, terminated, truncated, info = self.env.step(actions)
        return obs, reward, terminated, truncated, info


class GymnasiumEnv(gymnasium.Env):
    """One registered environment as a ``gymnasium.Env``.

    ``step`` returns ``(obs, reward, terminated, truncated, info)`` with Python scalars for the
    reward and flags and the cost in ``info["cost"]``. At an episode's end ``obs`` is that
    episode's last observation; call ``reset`` before stepping on (stepping on instead starts
    the next episode, which the environment has already reset).

    Args:
        name: a registered environment name.
        seed: seed of the JAX random key, until ``reset`` is given another.
        **kwargs: keyword options of the environment.
    """

    metadata = {"render_modes": []}

    def __init__(self, name: str, seed: int = 0, **kwargs: Any):
        self.vector = GymnasiumCMDP(name, num_envs=1, seed=seed, **kwargs)
        self.observation_space = self.vector.single_observation_space
        self.action_space = self.vector.single_action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self.vector.reset(seed=seed, options=options)
        return obs[0], info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        _, reward, _, terminated, truncated, info = self.vector.step(np.asarray(action)[None])
        single = {
            name: value[0]
            for name, value in info.items()
            if name not in ("final_obs", "_final_obs")
        }
        return (
            single["final_observation"],
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            single,
        )

    def close(self) -> None:
        self.vector.close()


def check_actions(actions: Any, single: gymnasium.Space, num_envs: int) -> np.ndarray:
    """``actions`` as the numpy array the jitted step takes (int32 for a discrete space, float32
    for a box), after checking them against ``num_envs`` copies of ``single``.

    Raises:
        ValueError: a one-line message naming what was expected and what came.
    """
    actions = np.asarray(actions)
    expected = (num_envs, *single.shape)
    if actions.shape != expected:
        raise ValueError(
            f"actions: expected shape {expected} (a leading axis of {num_envs} environments), "
            f"got {actions.shape}"
        )
    if isinstance(single, gymnasium.spaces.Discrete):
        wanted = f"integers in [0, {single.n - 1}]"
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions: expected {wanted}, got dtype {actions.dtype}")
        bad = (actions < 0) | (actions >= single.n)
        if bad.any():
            raise ValueError(
                f"actions: expected {wanted}, got {actions[bad].tolist()} "
                f"(environments {np.flatnonzero(bad).tolist()})"
            )
        return actions.astype(np.int32)
    if not (np.issubdtype(actions.dtype, np.floating) or np.issubdtype(actions.dtype, np.integer)):
        raise ValueError(f"actions: expected finite numbers, got dtype {actions.dtype}")
    bad = ~np.isfinite(actions).reshape(num_envs, -1).all(axis=1)
    if bad.any():
        raise ValueError(
            "actions: expected finite numbers, got NaN or inf in environments "
            f"{np.flatnonzero(bad).tolist()}"
        )
    return actions.astype(np.float32)


def _to_gymnasium(space: gymnax_spaces.Space) -> gymnasium.Space:
    if isinstance(space, gymnax_spaces.Discrete):
        return gymnasium.spaces.Discrete(space.n)
    if isinstance(space, gymnax_spaces.Box):
        low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)
        high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)
        return gymnasium.spaces.Box(low, high, space.shape, np.float32)
    raise TypeError(f"no gymnasium equivalent for {type(space).__name__}")
