"""Generalized advantage estimation on one trajectory slice, with terminations and truncations.

Schulman, Moritz, Levine, Jordan, Abbeel, "High-Dimensional Continuous Control Using Generalized
Advantage Estimation", ICLR 2016, eq. (16); ALGORITHMS.md §0.1.

The functions act on a single environment's slice of ``T`` consecutive transitions, time on
axis 0. Callers batch over environments with ``jax.vmap`` (``in_axes=1`` for ``[T, N]`` rollouts).
The same functions serve reward and cost critics: pass ``(costs, cost values, γ_c, λ_c)``.
"""

import chex
import jax
import jax.numpy as jnp
from jax import lax


def generalized_advantage_estimation(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    discount: float | jax.Array,
    gae_lambda: float | jax.Array,
) -> jax.Array:
    r"""GAE(γ, λ) advantages of one trajectory slice, bootstrapped at truncations and at the cut.

    With ``term_t``, ``trunc_t`` the flags of transition ``t`` (from ``s_t`` to ``s'_t``)::

        δ_t = r_t + γ (1 − term_t) V(s'_t) − V(s_t)
        A_t = δ_t + γ λ (1 − (term_t ∨ trunc_t)) A_{t+1},        A_T = 0.

    ``V(s'_t)`` is the value of the true next state of transition ``t``: after a truncation it is
    the value of the pre-reset ``final_observation``, so a time-limit end bootstraps from it,
    while a termination bootstraps with 0 (termination wins when both flags are set). Either flag
    cuts the recursion, since ``s_{t+1}`` then starts a new episode. At the batch cut
    (``t = T − 1``) the recursion stops with ``A_T = 0`` and ``δ_{T−1}`` already bootstraps from
    ``next_values[T − 1]``. Computed by a reverse ``lax.scan``.

    With ``γ = 1`` the return is the finite sum of the episode (CPO's undiscounted cost, EcoAnt's
    energy): a time limit is then part of the task and ends the sum like a termination, so a
    truncation bootstraps with 0. (Bootstrapping there would make the value the infinite sum
    Σ_k c_k, whose targets feed back into themselves and grow without bound.) The batch cut is
    not a time limit and always bootstraps.

    The matching critic targets are the λ-returns, see :func:`lambda_returns`.

    Args:
      rewards: ``[T]`` rewards (or costs) ``r_t``.
      values: ``[T]`` critic values ``V(s_t)``.
      next_values: ``[T]`` critic values ``V(s'_t)`` of the true next states.
      terminated: ``[T]`` bool, ``s'_t`` is a terminal state of the MDP.
      truncated: ``[T]`` bool, the episode was cut at ``s'_t`` by a time limit.
      discount: scalar ``γ`` in ``[0, 1]``; may be traced.
      gae_lambda: scalar ``λ`` in ``[0, 1]``; may be traced.

    Returns:
      ``[T]`` advantages ``A_t``.
    """
    chex.assert_rank([rewards, values, next_values, terminated, truncated], 1)
    chex.assert_equal_shape([rewards, values, next_values, terminated, truncated])
    dtype = jnp.result_type(rewards, values, next_values)

    ends_return = terminated | (truncated & (jnp.asarray(discount) >= 1.0))
    not_terminated = 1.0 - ends_return.astype(dtype)
    continues = 1.0 - (terminated | truncated).astype(dtype)
    deltas = rewards + discount * not_terminated * next_values - values
    decays = discount * gae_lambda * continues

    def backward(advantage_tp1: jax.Array, delta_and_decay_t: tuple[jax.Array, jax.Array]):
        delta_t, decay_t = delta_and_decay_t
        advantage_t = delta_t + decay_t * advantage_tp1
        return advantage_t, advantage_t

    _, advantages = lax.scan(backward, jnp.zeros((), deltas.dtype), (deltas, decays), reverse=True)
    return advantages


def lambda_returns(advantages: jax.Array, values: jax.Array) -> jax.Array:
    r"""λ-returns ``G^λ_t = A_t + V(s_t)``, the critic regression targets (ALGORITHMS.md §0.1).

    With the advantages of :func:`generalized_advantage_estimation` these are the TD(λ) returns,
    bootstrapped from ``V(s'_t)`` at truncations and at the batch cut, and from 0 at terminations.

    Args:
      advantages: ``[T]`` (or any shape) advantages ``A_t``.
      values: values ``V(s_t)`` of the same shape.

    Returns:
      λ-returns of the same shape.
    """
    chex.assert_equal_shape([advantages, values])
    return advantages + values


gae_over_environments = jax.vmap(
    generalized_advantage_estimation, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1
)
""":func:`generalized_advantage_estimation` of a ``[T, N]`` rollout, every environment at once."""


def standardize(advantages: jax.Array) -> jax.Array:
    """``(A − mean) / (std + 1e-8)`` over the whole batch: the reward advantage the policy sees
    (ALGORITHMS.md §0.1; cost advantages are only centred)."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)
