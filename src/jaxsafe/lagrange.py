"""Lagrange multiplier for a cost constraint, learnt by projected gradient ascent.

For the constrained problem ``max_π J_R(π)  s.t.  J_C(π) ≤ d`` the Lagrangian is
``L(π, λ) = J_R(π) − λ (J_C(π) − d)`` with ``λ ≥ 0``. The multiplier minimises ``L`` over ``λ``,
i.e. ascends ``λ (J_C − d)``, whose gradient in ``λ`` is the constraint violation ``J_C − d``;
after every optimiser step ``λ`` is projected back onto ``[0, ∞)``. See Ray, Achiam, Amodei,
"Benchmarking Safe Exploration in Deep Reinforcement Learning" (2019) (PPO-/TRPO-Lagrangian), and
Stooke, Achiam, Abbeel, "Responsive Safety in Reinforcement Learning by PID Lagrangian Methods"
(ICML 2020), whose gradient-ascent baseline this is (the integral-only PID controller).
"""

from collections.abc import Callable
from typing import Literal, NamedTuple

import chex
import jax
import jax.numpy as jnp
import ml_collections
import optax

OPTIMIZERS = ("adam", "sgd")


class LagrangeState(NamedTuple):
    """Multiplier and optimiser state.

    Attributes:
      value: scalar ``λ ≥ 0``.
      opt_state: the optax state of the optimiser acting on ``value``.
    """

    value: jax.Array
    opt_state: optax.OptState


class LagrangeMultiplier:
    r"""Projected gradient ascent on ``λ (J_C − d)`` with an optax optimiser.

    With plain SGD the update is ``λ_{k+1} = max(0, λ_k + η (J_C − d))``: ``λ`` grows while the
    constraint is violated and decays to 0 while it holds. With Adam the step is Adam's
    normalised step in the same direction; its moments are not reset by the projection.

    Hyper-parameters are closed over (as in an optax ``GradientTransformation``); ``init`` and
    ``update`` are pure and jit/vmap-safe, so initial values and violations (hence cost limits)
    may be traced or vmapped.

    Args:
      learning_rate: step size ``η`` of the optimiser.
      optimizer: ``"adam"`` (default) or ``"sgd"``.
    """

    def __init__(self, learning_rate: float, optimizer: Literal["adam", "sgd"] = "adam"):
        if optimizer == "adam":
            self._optimizer = optax.adam(learning_rate)
        elif optimizer == "sgd":
            self._optimizer = optax.sgd(learning_rate)
        else:
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")

    def init(self, initial_value: float | jax.Array) -> LagrangeState:
        """State with ``λ = max(0, initial_value)`` (scalar float32) and a fresh optimiser."""
        value = jnp.maximum(jnp.asarray(initial_value, jnp.float32), 0.0)
        chex.assert_rank(value, 0)
        return LagrangeState(value=value, opt_state=self._optimizer.init(value))

    def update(self, state: LagrangeState, constraint_violation: jax.Array) -> LagrangeState:
        """One projected ascent step on ``λ (J_C − d)``.

        Args:
          state: the current multiplier.
          constraint_violation: scalar ``J_C − d`` (positive when the constraint is violated).

        Returns:
          The updated multiplier, ``λ ≥ 0``.
        """
        violation = jnp.asarray(constraint_violation, state.value.dtype)
        chex.assert_rank(violation, 0)
        # optax minimises: the gradient of −λ (J_C − d) in λ is −(J_C − d).
        updates, opt_state = self._optimizer.update(-violation, state.opt_state, state.value)
        value = jnp.maximum(optax.apply_updates(state.value, updates), 0.0)
        return LagrangeState(value=value, opt_state=opt_state)


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """Checks a Lagrangian algorithm's ``lagrange_*`` fields; ``check(ok, field, value, msg)``."""
    check(
        algo.lagrange_optimizer in OPTIMIZERS,
        "algo.lagrange_optimizer",
        algo.lagrange_optimizer,
        f"unknown lagrange_optimizer; valid: {list(OPTIMIZERS)}",
    )
    check(
        algo.lagrange_learning_rate > 0.0,
        "algo.lagrange_learning_rate",
        algo.lagrange_learning_rate,
        "must be positive",
    )
    check(algo.lagrange_init >= 0.0, "algo.lagrange_init", algo.lagrange_init, "must be >= 0")
