"""CPPO-EM's M-step: fit π_θ to the E-step's ratio targets by a lower-clipped tracking loss.

Xuan, Zhang, Yin & Lam, "Constrained Proximal Policy Optimization" (arXiv 2305.14216), eqs.
(8)–(9) and Appendix C.2–C.3; ALGORITHMS.md §B.6. The M-step replaces min KL(q ‖ π_θ) s.t.
KL(π_k ‖ π_θ) ≤ δ by tracking the targets v_i with the ratios r_θ,i = π_θ(a_i|s_i)/π_k(a_i|s_i):
∇E[(v − r_θ)²] ∝ −E[(v − r_θ)∇r_θ], so w = sg(v − r_θ) acts as a PPO advantage, recomputed at
every gradient step, in the PPO-style loss with a lower clip only (App. C.3),

    L_M(θ) = −(1/N) Σ_i min(w_i r_i, w_i max(r_i, 1 − ε)),   ε = 0.4,

whose gradient vanishes where w_i < 0 and r_i < 1 − ε: ratios are not pushed below 0.6.

In recovery mode (App. C.2) the weight is w = sg(β(v − r) + (1 − β) p) with p the projection of
the residual onto the centred, normalised cost advantages, p = ((v − r)·Â_c) Â_c (β = 0.3):
the ratios first move along the cost axis into the feasible side, then along the zero-reward
boundary. With several recovery targets (radii R_j, §B.5) each step tracks the one of the
smallest R_j beyond ‖r − 1‖ (:func:`select_target`).

Full-batch Adam steps, stopping early (before a step) once the mean KL(π_k ‖ π_θ) exceeds
``kl_limit`` (spinning-up PPO's rule; [OUR CHOICE], §B.6).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax


def tracking_weights(
    target: jax.Array,
    ratio: jax.Array,
    recovery: jax.Array | bool = False,
    beta: float | jax.Array = 0.3,
    cost_direction: jax.Array | None = None,
) -> jax.Array:
    """w = sg(v − r), or in recovery sg(β(v − r) + (1 − β)((v − r)·Â_c)Â_c); shapes ``[N]``.

    Args:
        target: ``[N]`` ratio targets v.
        ratio: ``[N]`` current ratios r_θ.
        recovery: use the recovery modification (a traced bool is fine).
        beta: β of App. C.2.
        cost_direction: ``[N]`` unit vector Â_c (needed with recovery).
    """
    chex.assert_equal_shape([target, ratio])
    residual = target - ratio
    if cost_direction is None:
        return jax.lax.stop_gradient(residual)
    projection = jnp.dot(residual, cost_direction) * cost_direction
    modified = beta * residual + (1.0 - beta) * projection
    return jax.lax.stop_gradient(jnp.where(recovery, modified, residual))


def clipped_tracking_loss(
    ratio: jax.Array, weights: jax.Array, lower_clip: float | jax.Array = 0.6
) -> jax.Array:
    """L_M = −(1/N) Σ min(w r, w max(r, lower_clip)) (App. C.3); ``[N]`` inputs, a scalar."""
    chex.assert_equal_shape([ratio, weights])
    return -jnp.mean(jnp.minimum(weights * ratio, weights * jnp.maximum(ratio, lower_clip)))


def select_target(
    targets: jax.Array,
    radii: jax.Array,
    ratio: jax.Array,
    multi: jax.Array | bool,
    margin: float | jax.Array = 0.1,
) -> tuple[jax.Array, jax.Array]:
    """The target of the smallest radius R_j ≥ (1 + margin)‖r − 1‖ (the largest when none is),
    or with ``multi`` False always the largest.

    §B.5 ([OUR CHOICE]) asks for "the target that matches the current ‖r − 1‖". Read as the
    smallest R_j ≥ ‖r − 1‖ it stalls: r approaches the target of R_1 from inside, so ‖r − 1‖
    stays below R_1 and the next target is never chosen. The margin moves on to R_{j+1} once r
    has covered 1/(1 + margin) of R_j (91% by default).

    Args:
        targets: ``[J, N]`` ratio targets for the radii ``[J]`` (ascending).
        ratio: ``[N]`` current ratios.

    Returns:
        ``(target [N], j)``.
    """
    chex.assert_rank([targets, radii, ratio], [2, 1, 1])
    last = radii.shape[0] - 1
    reach = (1.0 + margin) * jnp.linalg.norm(ratio - 1.0)
    first_enough = jnp.argmax(radii >= reach)
    index = jnp.where(multi & jnp.any(radii >= reach), first_enough, last)
    return targets[index], index


class MStepResult(NamedTuple):
    params: Any
    opt_state: optax.OptState
    steps: jax.Array  # int32, Adam steps taken before the KL stop
    loss: jax.Array  # L_M at the last step taken (or the first evaluation)
    target_index: jax.Array  # j of the last step's target


def m_step(
    params: Any,
    opt_state: optax.OptState,
    optimizer: optax.GradientTransformation,
    ratio_and_kl: Callable[[Any], tuple[jax.Array, jax.Array]],
    targets: jax.Array,
    radii: jax.Array,
    multi: jax.Array | bool,
    recovery: jax.Array | bool,
    cost_direction: jax.Array,
    beta: float | jax.Array,
    lower_clip: float | jax.Array,
    kl_limit: float | jax.Array,
    iterations: int,
    radius_margin: float | jax.Array = 0.1,
) -> MStepResult:
    """``iterations`` full-batch steps of ``optimizer`` on L_M, w recomputed at every step.

    Args:
        params: the policy's parameters θ (θ_k on entry).
        opt_state: ``optimizer``'s state.
        ratio_and_kl: ``params -> (r_θ [N], mean KL(π_k ‖ π_θ))``.
        targets: ``[J, N]`` ratio targets (1 + 𝐯) for the radii ``[J]``; see
            :func:`select_target` (``multi``, ``radius_margin``).
        recovery, cost_direction, beta: the recovery modification, see :func:`tracking_weights`.
        lower_clip: 1 − ε.
        kl_limit: no step is taken once the mean KL exceeds it (``inf``: never stop).
        iterations: the number of steps (static).
    """

    def loss(params):
        ratio, kl = ratio_and_kl(params)
        fixed = jax.lax.stop_gradient(ratio)
        target, index = select_target(targets, radii, fixed, multi, radius_margin)
        weights = tracking_weights(target, fixed, recovery, beta, cost_direction)
        return clipped_tracking_loss(ratio, weights, lower_clip), (kl, index)

    def body(carry, _):
        params, opt_state, stopped, steps, last_loss, last_index = carry
        (value, (kl, index)), grads = jax.value_and_grad(loss, has_aux=True)(params)
        stop = stopped | (kl > kl_limit)
        updates, new_opt_state = optimizer.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        keep = lambda old, new: jax.tree.map(  # noqa: E731
            lambda a, b: jnp.where(stop, a, b), old, new
        )
        carry = (
            keep(params, new_params),
            keep(opt_state, new_opt_state),
            stop,
            steps + (~stop).astype(jnp.int32),
            jnp.where(stop & (steps > 0), last_loss, value),
            jnp.where(stop & (steps > 0), last_index, index),
        )
        return carry, None

    initial = (params, opt_state, jnp.bool_(False), jnp.int32(0), jnp.float32(0.0), jnp.int32(0))
    (params, opt_state, _, steps, last_loss, index), _ = jax.lax.scan(
        body, initial, None, length=iterations
    )
    return MStepResult(params, opt_state, steps, last_loss, index)
