"""The invalid-action contract, shared by every environment of the package.

An action is *invalid* when the environment cannot execute it:

- a ``Box`` action with a non-finite component (NaN, +inf or −inf);
- a ``Discrete(n)`` action outside {0, …, n−1} (negative, n or more, or NaN).

A step given an invalid action

1. replaces it, as a whole, by the zero action (zeros for a box, action 0 for a discrete space)
   before it reaches the dynamics, so the state, observation and reward stay finite;
2. reports ``info["invalid_action"] = True`` (false on every valid step);
3. counts as unsafe: its cost is ``max(c, c_inv)``, with c the cost of the step taken with the
   zero action and ``c_inv = env.invalid_action_cost(params)`` the largest cost one valid step
   can incur (1 for the binary-cost tasks), so ``cost ≥ 0`` holds, the constraint sees the
   step, and an invalid action is never cheaper than a valid one;
4. terminates the episode: ``step``'s auto-reset starts the next one from a fresh initial state,
   so later valid actions act on a new episode that the invalid one has not touched.

A valid action passes through unchanged and the step's outputs are selected unchanged
(``jnp.where`` with a false condition returns its other operand bit for bit), so a valid step is
bit-identical to the same step without the contract. A finite box action outside the box is
valid: each environment clips it to its box.

An environment applies the contract by decorating its ``step_env`` with :func:`guard` and
defining ``invalid_action_cost(params) -> float32 []``. An environment whose first operation on
the action is arithmetic rather than a clip uses :func:`guard_without_replacing` and replaces
the action itself, after that arithmetic. EcoAnt adds its motor noise first; with the select
before that addition, XLA compiled a valid step differently when the caller computed the action
in the same program (sampled actions scaled by 1.5: ULP-level differences in the Ant's state,
likely a changed multiply-add fusion), and with the select after it, bit for bit as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

StepEnv = Callable[..., tuple[jax.Array, Any, jax.Array, jax.Array, dict[str, Any]]]
"""gymnax's ``step_env(self, key, state, action, params) -> (obs, state, reward, terminated,
info)``."""


def replace_invalid(action: jax.Array, space: spaces.Space) -> tuple[jax.Array, jax.Array]:
    """``(a, invalid)``: ``action`` if it is valid for ``space``, else the zero action (same
    shape and dtype); ``invalid`` is a bool scalar."""
    action = jnp.asarray(action)
    if isinstance(space, spaces.Discrete):
        invalid = ~((action >= 0) & (action < space.n))  # NaN compares false: invalid
    else:
        invalid = ~jnp.all(jnp.isfinite(action))
    return jnp.where(invalid, jnp.zeros_like(action), action), invalid


def guard(step_env: StepEnv) -> StepEnv:
    """``step_env`` under the invalid-action contract of the module docstring.

    The decorated method's environment must define ``action_space(params)`` and
    ``invalid_action_cost(params)``; its ``info`` must hold ``cost``.
    """
    return _guarded(step_env, replace=True)


def guard_without_replacing(step_env: StepEnv) -> StepEnv:
    """As :func:`guard`, but ``step_env`` receives the action unchanged and must itself act as
    if an invalid one were the zero action (see the module docstring for when)."""
    return _guarded(step_env, replace=False)


def _guarded(step_env: StepEnv, replace: bool) -> StepEnv:
    @functools.wraps(step_env)
    def guarded(env, key: jax.Array, state: Any, action: jax.Array, params: Any):
        zero_if_invalid, invalid = replace_invalid(action, env.action_space(params))
        if replace:
            action = zero_if_invalid
        obs, state, reward, terminated, info = step_env(env, key, state, action, params)
        cost = info["cost"]
        unsafe = jnp.maximum(cost, env.invalid_action_cost(params)).astype(cost.dtype)
        info = {**info, "cost": jnp.where(invalid, unsafe, cost), "invalid_action": invalid}
        return obs, state, reward, terminated | invalid, info

    return guarded
