"""Policy-step solvers (pure, jit/vmap-safe): conjugate gradient on Fisher-vector products, the
analytic CPO step, a backtracking line search and CPPO-EM's E-step (:mod:`.cppo_e_step`)."""

from jaxsafe.solvers.conjugate_gradient import (
    conjugate_gradient,
    fisher_vector_product,
    gauss_newton_vector_product,
)
from jaxsafe.solvers.cpo_step import CPOStepInfo, cpo_step
from jaxsafe.solvers.cppo_e_step import EStepSolution, e_step
from jaxsafe.solvers.line_search import (
    LineSearchInfo,
    backtracking_line_search,
    decaying_fractions,
    geometric_fractions,
)

__all__ = [
    "CPOStepInfo",
    "EStepSolution",
    "LineSearchInfo",
    "backtracking_line_search",
    "conjugate_gradient",
    "cpo_step",
    "decaying_fractions",
    "e_step",
    "fisher_vector_product",
    "gauss_newton_vector_product",
    "geometric_fractions",
]
