"""Cost shaping with a learned fault predictor (Achiam et al., "Constrained Policy Optimization",
ICML 2017, §6.3; ALGORITHMS.md §A.4).

A CPO step lands on the linearised constraint boundary, and the first-order surrogate misses part
of the cost of the state-distribution shift, so the true cost of the next policy sits on the
limit d, above it about half the time. CPO §6.3 constrains instead the shaped cost

    C⁺(s_t, a_t) = C(s_t, a_t) + α P_φ(s_t → U),

where P_φ(s → U) is a learned probability that the agent, from s, incurs cost within the next T
steps. C⁺ ≥ C, so J_{C⁺} ≤ d keeps the true J_C below d by the margin α E[Σ_t P_φ(s_t → U)]:
large for a policy that runs close to the unsafe set, vanishing for one that keeps away from it.
Point-Circle settings of the paper: T = 5, α = 1, one hidden layer of 32 units with a sigmoid
output, 25 Adam steps per iteration.

**Labels** (:func:`unsafe_within`). y_t = 1 when c_{t+k} > 0 for some 0 ≤ k < T within the
episode of s_t. The episode's end (terminated *or* truncated) closes the window: no cost of this
episode follows it. A window that the batch end cuts before T steps, with no cost seen, has an
unknown label and is left out of the loss.

**The shaped expected cost** (:func:`shaping_margin`). For the undiscounted episode cost (γ_c = 1,
CPO's experiments), J_{C⁺} = J_C + α E[Σ_t P_φ(s_t)], and by the renewal-reward theorem
E[Σ_t P_φ(s_t)] = P̄ · L̄: the long-run mean of P_φ over steps, estimated by its mean over the
batch, times the mean episode length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxsafe.networks import MLP


def default_config() -> ml_collections.ConfigDict:
    """Off (horizon 0); ``horizon = 5`` gives CPO's Point-Circle settings."""
    return ml_collections.ConfigDict(
        {
            "horizon": 0,  # T: "unsafe within T steps"; 0 switches shaping off
            "coefficient": 1.0,  # α, the weight of P_φ in C⁺
            "hidden_sizes": (32,),
            "learning_rate": 1e-3,  # Adam
            "num_steps": 25,  # full-batch Adam steps per update
        }
    )


def unsafe_within(cost: jax.Array, done: jax.Array, horizon: int) -> tuple[jax.Array, jax.Array]:
    """The fault predictor's labels of a rollout ``[T, N]``.

    Args:
      cost: per-step costs c_t.
      done: bool, the episode ended with step t (terminated or truncated).
      horizon: T.

    Returns:
      ``(labels, known)``, float32 y_t ∈ {0, 1} and bool: whether y_t is determined by the batch.
    """
    num_steps = cost.shape[0]
    unsafe = cost > 0.0

    def backwards(carry, step):
        steps_to_cost, reaches_cut = carry
        unsafe_t, done_t = step
        steps_to_cost = jnp.where(unsafe_t, 0.0, jnp.where(done_t, jnp.inf, steps_to_cost + 1.0))
        reaches_cut = ~unsafe_t & ~done_t & reaches_cut
        return (steps_to_cost, reaches_cut), (steps_to_cost, reaches_cut)

    start = (jnp.full(cost.shape[1:], jnp.inf), jnp.ones(cost.shape[1:], bool))
    _, (steps_to_cost, reaches_cut) = jax.lax.scan(backwards, start, (unsafe, done), reverse=True)
    labels = steps_to_cost < horizon
    window_inside = (jnp.arange(num_steps) + horizon <= num_steps).reshape(
        (num_steps,) + (1,) * (cost.ndim - 1)
    )
    known = labels | ~reaches_cut | window_inside
    return labels.astype(jnp.float32), known


def shaping_margin(
    fault_probability: jax.Array, coefficient: jax.Array, episode_length: jax.Array
) -> jax.Array:
    """α E[Σ_t P_φ(s_t)] = α P̄ L̄, the gap J_{C⁺} − J_C for the undiscounted cost."""
    return coefficient * fault_probability.mean() * episode_length


class FaultPredictorState(NamedTuple):
    params: Any
    opt_state: optax.OptState


class FaultPredictor:
    """P_φ(s → U) = sigmoid(f_φ(s)), f_φ an MLP, fitted by binary cross-entropy."""

    def __init__(self, hidden_sizes: Sequence[int], learning_rate: float, num_steps: int):
        self.network = MLP(tuple(hidden_sizes), 1)
        self.optimizer = optax.adam(learning_rate)
        self.num_steps = num_steps

    def init(self, key: jax.Array, observation: jax.Array) -> FaultPredictorState:
        params = self.network.init(key, observation)
        return FaultPredictorState(params, self.optimizer.init(params))

    def logits(self, params: Any, observation: jax.Array) -> jax.Array:
        return self.network.apply(params, observation)[..., 0]

    def probability(self, state: FaultPredictorState, observation: jax.Array) -> jax.Array:
        """P_φ(s → U) for every observation ``[..., D] -> [...]``."""
        return jax.nn.sigmoid(self.logits(state.params, observation))

    def fit(
        self,
        state: FaultPredictorState,
        observation: jax.Array,
        labels: jax.Array,
        known: jax.Array,
    ) -> tuple[FaultPredictorState, jax.Array]:
        """``num_steps`` full-batch Adam steps on the mean cross-entropy of the known labels.

        Returns the state and the loss before the last step.
        """
        weights = known.astype(jnp.float32) / jnp.maximum(known.sum(), 1)

        def loss(params):
            entropy = optax.sigmoid_binary_cross_entropy(self.logits(params, observation), labels)
            return jnp.sum(weights * entropy)

        def adam_step(state: FaultPredictorState, _):
            value, grads = jax.value_and_grad(loss)(state.params)
            updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
            return FaultPredictorState(optax.apply_updates(state.params, updates), opt_state), value

        state, losses = jax.lax.scan(adam_step, state, None, length=self.num_steps)
        return state, losses[-1]

    def fit_on_rollout(
        self,
        state: FaultPredictorState,
        observation: jax.Array,
        cost: jax.Array,
        done: jax.Array,
        horizon: int,
    ) -> tuple[FaultPredictorState, dict[str, jax.Array]]:
        """:meth:`fit` on the :func:`unsafe_within` labels of a rollout ``[T, N]``.

        Returns the state and its metrics: the loss and the rate of positive known labels.
        """
        labels, known = unsafe_within(cost, done, horizon)
        state, loss = self.fit(state, observation, labels, known)
        return state, {
            "loss/fault_predictor": loss,
            "cost_shaping/unsafe_within_rate": jnp.sum(labels * known)
            / jnp.maximum(known.sum(), 1),
        }


def from_config(algo: ml_collections.ConfigDict) -> FaultPredictor | None:
    """The fault predictor ``algo.cost_shaping`` asks for; ``None`` when shaping is off (or the
    algorithm has no such field)."""
    shaping = algo.get("cost_shaping")
    if shaping is None or shaping.horizon <= 0:
        return None
    return FaultPredictor(shaping.hidden_sizes, shaping.learning_rate, shaping.num_steps)


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """Checks ``algo.cost_shaping``; ``check(ok, field, value, message)`` raises on ``not ok``."""
    shaping = algo.cost_shaping
    check(shaping.horizon >= 0, "algo.cost_shaping.horizon", shaping.horizon, "must be >= 0")
    if shaping.horizon <= 0:
        return
    check(
        algo.cost_discount == 1.0,
        "algo.cost_shaping.horizon",
        shaping.horizon,
        "cost shaping needs the undiscounted cost, algo.cost_discount = 1 "
        f"(got {algo.cost_discount})",
    )
    check(
        shaping.coefficient >= 0.0,
        "algo.cost_shaping.coefficient",
        shaping.coefficient,
        "must be >= 0",
    )
    for field in ("learning_rate", "num_steps"):
        check(shaping[field] > 0, f"algo.cost_shaping.{field}", shaping[field], "must be positive")
