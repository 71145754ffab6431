"""Backtracking line search: the first acceptable fraction of a proposed step.

A natural-gradient method proposes a full step x and tries the candidates θ_k + f_j x for a
decreasing sequence of fractions f_0 > f_1 > … > f_{J−1}, taking the *first* one that its
acceptance predicate passes, and keeping θ_k when none does. The fractions and the predicate are
the caller's:

- CPO (ALGORITHMS.md §A.3) and VaR-CPO (VARCPO.md §3): f_j = β^j (:func:`geometric_fractions`),
  KL ≤ δ, a bounded cost-surrogate increase and, in cases ≥ 2, no objective decrease;
- TRPO: f_j = β^j, KL ≤ δ and no objective decrease;
- CSC (ALGORITHMS.md §C.4): f_j = β_j with β_{j+1} = β_j (1 − β_j)^{j+1}
  (:func:`decaying_fractions`), KL ≤ δ only.

The candidates are tried one after the other in a ``lax.while_loop`` that stops at the first
acceptable one: a step is usually accepted at j = 0 or 1, so an update evaluates one or two
candidates instead of all J (under ``vmap`` over seeds, the loop runs until every seed is done).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxsafe.solvers.conjugate_gradient import Pytree, tree_axpy


class LineSearchInfo(NamedTuple):
    accepted: jax.Array  # bool: some candidate passed
    index: jax.Array  # int32 j of the accepted candidate, −1 when reverted
    step_fraction: jax.Array  # f_j of the accepted candidate, 0 when reverted
    metrics: Any  # what ``evaluate`` returned for candidate j (the last one tried when reverted)


def geometric_fractions(backtrack_ratio: float | jax.Array, num_candidates: int) -> jax.Array:
    """``[J]`` fractions β^j, j = 0, …, J − 1 (CPO, TRPO)."""
    return backtrack_ratio ** jnp.arange(num_candidates, dtype=jnp.float32)


def decaying_fractions(initial: float, num_candidates: int) -> jax.Array:
    """``[L]`` fractions β_0, β_1, … with β_{j+1} = β_j (1 − β_j)^{j+1} (CSC, ALGORITHMS.md §C.4).

    Bharadhwaj et al. (ICLR 2021), App. A.1: after the j-th failed try the step fraction is
    decayed and the search repeats, L tries in all. ``initial`` is β_0 (0.7 in both
    reimplementations), in (0, 1); the sequence is computed once, on the host.
    """
    fractions = [float(initial)]
    for j in range(num_candidates - 1):
        beta = fractions[-1]
        fractions.append(beta * (1.0 - beta) ** (j + 1))
    return jnp.array(fractions, jnp.float32)


def backtracking_line_search(
    params: Pytree,
    step: Pytree,
    fractions: jax.Array,
    evaluate: Callable[[Pytree], tuple[jax.Array, Any]],
) -> tuple[Pytree, LineSearchInfo]:
    """The first acceptable ``params + f_j · step``, or ``params`` when none is.

    Args:
        params: θ_k.
        step: the full proposed step x, shaped like ``params``.
        fractions: ``[J]`` candidate fractions f_j, in the order they are tried.
        evaluate: the acceptance predicate, ``candidate -> (acceptable, metrics)``.

    Returns:
        The kept parameters and a :class:`LineSearchInfo`.
    """
    num_candidates = fractions.shape[0]

    def untried_and_rejected(carry):
        index, acceptable, _ = carry
        return ~acceptable & (index < num_candidates - 1)

    def try_next(carry):
        index = carry[0] + 1
        return (index, *evaluate(tree_axpy(fractions[index], step, params)))

    _, no_metrics = jax.tree.map(jnp.zeros_like, jax.eval_shape(evaluate, params))
    index, accepted, metrics = jax.lax.while_loop(
        untried_and_rejected, try_next, (jnp.int32(-1), jnp.bool_(False), no_metrics)
    )
    fraction = jnp.where(accepted, fractions[index], 0.0)
    kept = tree_axpy(fraction, step, params)
    info = LineSearchInfo(
        accepted=accepted,
        index=jnp.where(accepted, index, -1).astype(jnp.int32),
        step_fraction=fraction,
        metrics=metrics,
    )
    return kept, info
