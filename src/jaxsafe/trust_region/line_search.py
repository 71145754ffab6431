"""Backtracking line search with every candidate evaluated in one ``vmap``.

CPO (ALGORITHMS.md §A.3) and VaR-CPO (VARCPO.md §3) shrink the proposed step x by β^j,
j = 0, …, J − 1, and take the *first* candidate θ_k + β^j x that passes the acceptance tests
(KL ≤ δ, a bounded cost-surrogate increase, no objective decrease in cases ≥ 2); when none
passes they keep θ_k. Evaluating all J candidates at once and taking the first passing index
gives the same answer as the sequential loop, in one batched computation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxsafe.trust_region.conjugate_gradient import Pytree, tree_axpy


class LineSearchInfo(NamedTuple):
    accepted: jax.Array  # bool: some candidate passed
    index: jax.Array  # int32 j of the accepted candidate, −1 when reverted
    step_fraction: jax.Array  # β^j of the accepted candidate, 0 when reverted
    metrics: Any  # what ``evaluate`` returned for the kept parameters' candidate (j or 0)


def backtracking_line_search(
    params: Pytree,
    step: Pytree,
    evaluate: Callable[[Pytree], tuple[jax.Array, Any]],
    backtrack_ratio: float = 0.8,
    num_candidates: int = 10,
) -> tuple[Pytree, LineSearchInfo]:
    """The first acceptable ``params + β^j · step``, or ``params`` when none is.

    Args:
        params: θ_k.
        step: the full proposed step x, shaped like ``params``.
        evaluate: ``candidate -> (acceptable, metrics)``; vmapped over the candidates.
        backtrack_ratio: β.
        num_candidates: J.

    Returns:
        The kept parameters and a :class:`LineSearchInfo`.
    """
    fractions = backtrack_ratio ** jnp.arange(num_candidates, dtype=jnp.float32)
    candidates = jax.vmap(lambda fraction: tree_axpy(fraction, step, params))(fractions)
    acceptable, metrics = jax.vmap(evaluate)(candidates)
    accepted = jnp.any(acceptable)
    index = jnp.argmax(acceptable)  # the first True; 0 when there is none
    fraction = jnp.where(accepted, fractions[index], 0.0)
    kept = tree_axpy(fraction, step, params)
    info = LineSearchInfo(
        accepted=accepted,
        index=jnp.where(accepted, index, -1).astype(jnp.int32),
        step_fraction=fraction,
        metrics=jax.tree.map(lambda m: m[index], metrics),
    )
    return kept, info
