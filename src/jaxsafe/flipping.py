"""The flipping-based policy: the two-member LP in closed form, and the mixture as a Policy.

Shen, Jiang, Wachi, Hashimoto & Gros, NeurIPS 2024 (arXiv 2410.06474); ALGORITHMS.md §D.2–D.3.

**The LP** (Algorithm 1, step 4; Thm 7). Given members with returns Ĵ_i and a safety
coordinate c_i (the expected episode cost Ĉ_i with budget d, or the violation probability
1 − F̂_i with budget α)::

    max_{ν ∈ [0,1]^S}  Σ_i ν_i Ĵ_i   s.t.   Σ_i ν_i c_i ≤ b,   Σ_i ν_i = 1

has an optimal vertex with at most two non-zero weights, so it is the best of

- a single member with c_i ≤ b (weight 1), value Ĵ_i;
- a pair with c_i < b < c_j on the budget line: w = (c_j − b) / (c_j − c_i) on i,
  value w Ĵ_i + (1 − w) Ĵ_j.

When no member has c_i ≤ b the LP is infeasible; :func:`solve_two_member_lp` then falls back to
the safest member, argmin_i c_i, with weight 1, and says so (``feasible = False``). O(S²), pure
and jittable.

**Execution** (Algorithm 2). With probability ν(j₁*) act with member j₁*, else with j₂*:

- ``per_step`` — the paper's Algorithm 2: a fresh coin κ ~ U[0, 1) at every step (the weight is
  a constant, not state-dependent). This is a different stationary policy, whose return and cost
  are in general *not* the convex combination the LP predicts (ALGORITHMS.md §D.3, FLAG).
- ``per_episode`` — one coin per episode, drawn at reset and kept in the policy's carry (re-drawn
  wherever an environment auto-resets, :func:`jaxsafe.rollout.restart_carry`): the mixture over
  parameters ∫ J dν whose value the LP's guarantee is about (Thm 6).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from jaxsafe.policy import Policy

MODES = ("per_episode", "per_step")


class Mixture(NamedTuple):
    """Act with member ``first`` with probability ``weight``, else with ``second``."""

    first: jax.Array  # int32 j₁*
    second: jax.Array  # int32 j₂*
    weight: jax.Array  # float32 ν(j₁*) ∈ [0, 1]


def single_member(index: int) -> Mixture:
    """The mixture that always acts with member ``index``."""
    return Mixture(jnp.int32(index), jnp.int32(index), jnp.float32(1.0))


class LPSolution(NamedTuple):
    """The LP's optimal two-member mixture and what it predicts."""

    mixture: Mixture
    value: jax.Array  # Σ ν_i Ĵ_i, the predicted return
    cost: jax.Array  # Σ ν_i c_i, the predicted safety coordinate (= b for a proper pair)
    feasible: jax.Array  # bool: some member has c_i ≤ b (else the fallback argmin c_i)


def solve_two_member_lp(
    returns: jax.Array, costs: jax.Array, budget: float | jax.Array
) -> LPSolution:
    """The closed-form solution of the LP above (ALGORITHMS.md §D.2).

    Args:
        returns: ``[S]`` Ĵ_i.
        costs: ``[S]`` c_i (Ĉ_i, or 1 − F̂_i).
        budget: b (d or α).

    Returns:
        The best single member or budget-line pair; ties go to the lowest index (singles, on
        the diagonal, and pairs (i, j) in row-major order). Infeasible: ``argmin c_i`` alone.
    """
    chex.assert_rank([returns, costs], 1)
    chex.assert_equal_shape([returns, costs])
    returns = jnp.asarray(returns)
    costs = jnp.asarray(costs, returns.dtype)
    budget = jnp.asarray(budget, returns.dtype)
    size = returns.shape[0]
    low, high = costs[:, None], costs[None, :]  # (i, j): c_i, c_j
    pair = (low < budget) & (budget < high)
    weight = jnp.where(pair, (high - budget) / jnp.where(pair, high - low, 1.0), 1.0)
    values = jnp.where(
        pair, weight * returns[:, None] + (1.0 - weight) * returns[None, :], -jnp.inf
    )
    single = costs <= budget
    diagonal = jnp.arange(size)
    values = values.at[diagonal, diagonal].set(jnp.where(single, returns, -jnp.inf))
    best = jnp.argmax(values.ravel())
    first, second = best // size, best % size
    feasible = jnp.any(single)
    safest = jnp.argmin(costs)
    first = jnp.where(feasible, first, safest).astype(jnp.int32)
    second = jnp.where(feasible, second, safest).astype(jnp.int32)
    chosen_weight = jnp.where(first == second, 1.0, weight[first, second])
    value = chosen_weight * returns[first] + (1.0 - chosen_weight) * returns[second]
    cost = chosen_weight * costs[first] + (1.0 - chosen_weight) * costs[second]
    mixture = Mixture(first, second, chosen_weight.astype(jnp.float32))
    return LPSolution(mixture, value, cost, feasible)


def member_weights(mixture: Mixture, size: int) -> jax.Array:
    """ν ∈ [0, 1]^S of a mixture: ``weight`` on ``first``, the rest on ``second``."""
    weights = jnp.zeros((size,), jnp.float32).at[mixture.first].add(mixture.weight)
    return weights.at[mixture.second].add(1.0 - mixture.weight)


class FlipCarry(NamedTuple):
    """The flipping policy's per-environment memory."""

    use_first: jax.Array  # [N] bool: this episode's coin (per_episode; unused per_step)
    first: Any  # member j₁*'s own carry
    second: Any  # member j₂*'s own carry


def flipping_policy(first: Policy, second: Policy, weight: float | jax.Array, mode: str) -> Policy:
    """The mixture of two policies: ``first`` with probability ``weight`` (Algorithm 2).

    Args:
        first, second: the two members' policies (j₁*, j₂*).
        weight: ν(j₁*); the coin is κ ~ U[0, 1) and ``first`` acts where κ < ν(j₁*).
        mode: ``"per_episode"`` (a coin at reset, kept in the carry) or ``"per_step"``.

    Returns:
        A :class:`Policy` whose extras are those of the member that acted (``log_prob`` is the
        log-probability under that member) plus ``flip/first`` [N], 1.0 where j₁* acted.
        ``deterministic`` makes the members act with their modes; the coin is always drawn.
    """
    if mode not in MODES:
        raise ValueError(f"flip mode must be one of {MODES}, got {mode!r}")
    weight = jnp.asarray(weight, jnp.float32)

    def coin(key: jax.Array, num_envs: int) -> jax.Array:
        return jax.random.uniform(key, (num_envs,)) < weight

    def init_carry(key: jax.Array, num_envs: int) -> FlipCarry:
        key_coin, key_first, key_second = jax.random.split(key, 3)
        return FlipCarry(
            coin(key_coin, num_envs),
            first.init_carry(key_first, num_envs),
            second.init_carry(key_second, num_envs),
        )

    def step(carry: FlipCarry, observation: jax.Array, key: jax.Array, deterministic=False):
        key_coin, key_first, key_second = jax.random.split(key, 3)
        num_envs = observation.shape[0]
        use_first = carry.use_first if mode == "per_episode" else coin(key_coin, num_envs)
        carry_first, action_first, extras_first = first.step(
            carry.first, observation, key_first, deterministic
        )
        carry_second, action_second, extras_second = second.step(
            carry.second, observation, key_second, deterministic
        )

        def select(a: jax.Array, b: jax.Array) -> jax.Array:
            return jnp.where(use_first.reshape(use_first.shape + (1,) * (a.ndim - 1)), a, b)

        action = select(action_first, action_second)
        extras = {name: select(extras_first[name], extras_second[name]) for name in extras_first}
        extras["flip/first"] = use_first.astype(jnp.float32)
        return FlipCarry(use_first, carry_first, carry_second), action, extras

    return Policy(init_carry=init_carry, step=step)
