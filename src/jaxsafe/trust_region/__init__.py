"""Trust-region machinery shared by TRPO-Lagrangian, CPO and VaR-CPO (pure, jit/vmap-safe)."""

from jaxsafe.trust_region.conjugate_gradient import conjugate_gradient, fisher_vector_product

__all__ = ["conjugate_gradient", "fisher_vector_product"]
