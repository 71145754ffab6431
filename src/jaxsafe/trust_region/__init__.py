"""Trust-region machinery shared by TRPO-Lagrangian, CPO and VaR-CPO (pure, jit/vmap-safe)."""

from jaxsafe.trust_region.conjugate_gradient import conjugate_gradient, fisher_vector_product
from jaxsafe.trust_region.cpo_step import CPOStepInfo, cpo_step
from jaxsafe.trust_region.line_search import LineSearchInfo, backtracking_line_search

__all__ = [
    "CPOStepInfo",
    "LineSearchInfo",
    "backtracking_line_search",
    "conjugate_gradient",
    "cpo_step",
    "fisher_vector_product",
]
