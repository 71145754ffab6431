"""The CPO-style policy update shared by TRPO-Lagrangian, CPO and VaR-CPO.

Achiam et al., "Constrained Policy Optimization" (ICML 2017), Algorithm 1 (ALGORITHMS.md §A.4),
with the ingredients of VaR-CPO (VARCPO.md §3), as a :class:`~jaxsafe.algorithms.on_policy.
PolicyUpdate` of the on-policy frame. Given a prepared batch, one step:

1. lets the algorithm's :class:`Constraint` linearise its constraint from the batch and the
   episode-level estimates (μ̂ = E[C], Ĵ_ĉ): an objective advantage (the standardised Â, or
   TRPO-Lagrangian's penalised one), weights of the centred stream advantages forming the
   constraint surrogate L_con(θ) = (1/M) Σ ρ_t Â^con_t, and the constraint value c in episode
   units;
2. **[FIX] scale matching** (ALGORITHMS.md §A.1, VARCPO.md §3): divides c by the effective
   horizon H (the mean episode length, or min(that, 1/(1 − γ_c)) for γ_c < 1) so that it is in
   the per-step units of b = ∇L_con;
3. solves max gᵀx s.t. c + bᵀx ≤ 0, ½ xᵀHx ≤ δ with conjugate gradient on Fisher-vector
   products of the actor only (:func:`jaxsafe.solvers.cpo_step`). H is the KL Hessian at θ_k,
   applied in its Gauss–Newton form through the distribution's parameters (``fisher_product =
   "gauss_newton"``, the same matrix at about half the cost) or by forward-over-reverse
   differentiation (``"hessian"``), on every ``fisher_sample_stride``-th time step of the batch
   (ALGORITHMS.md §0.4: OmniSafe's ``fvp_sample_freq``, jachiam's ``subsample_factor`` = 0.2).
   The default, 1, uses the whole batch as safety-starter-agents do: a subsample is safe only
   while it still spans the states the policy visits, since the estimated Fisher has rank at
   most (samples × action parameters). On PointCircle (a (64, 32) network, 2.6k parameters)
   a fifth of a 5,000-step batch stalled CPO's return at ~22 against ~49 with the whole batch;
   IcyLake's 16 one-hot states are spanned by any subsample, and its preset uses 5. g and b
   are always taken on the whole batch; with ``max_kl_mode =
   "adaptive"`` δ first shrinks so that the linear model's worst case stays within the
   constraint's violation budget (VARCPO.md (35)–(36));
4. backtracks over θ_k + β^j x, one candidate after the other, taking the first that the
   *acceptance rule* passes (:data:`ACCEPTANCE_RULES`) and reverting when none does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxsafe.algorithms import on_policy
from jaxsafe.algorithms.base import Hyperparams
from jaxsafe.networks import distribution_from_parameters, distribution_parameters
from jaxsafe.solvers import (
    backtracking_line_search,
    conjugate_gradient,
    cpo_step,
    fisher_vector_product,
    gauss_newton_vector_product,
    geometric_fractions,
)
from jaxsafe.solvers.conjugate_gradient import tree_vdot

SCALE_MATCHINGS = ("horizon", "none")
MAX_KL_MODES = ("fixed", "adaptive")
FISHER_PRODUCTS = ("gauss_newton", "hessian")


def default_config() -> ml_collections.ConfigDict:
    """The frame's fields and the step's (safety-starter-agents / VaR-CPO App. B defaults)."""
    config = on_policy.default_config()
    config.max_kl = 0.01  # δ, the trust region of the mean KL(π_k ‖ π_θ)
    config.cg_iterations = 10
    config.cg_damping = 0.1  # ζ of the Fisher-vector product
    config.fisher_product = "gauss_newton"  # "gauss_newton" | "hessian" (the same H at θ_k)
    config.fisher_sample_stride = 1  # the Fisher on every k-th time step (1: the whole batch)
    config.backtrack_ratio = 0.8  # β of the line search
    config.backtrack_steps = 10  # J candidates
    config.scale_matching = "horizon"  # "horizon" | "none" (OmniSafe's / VaR-CPO ref.'s)
    return config


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """The step's checks (after the frame's); ``check(ok, field, value, message)``."""
    on_policy.validate(algo, check)
    check(algo.max_kl > 0.0, "algo.max_kl", algo.max_kl, "must be positive")
    check(algo.cg_damping >= 0.0, "algo.cg_damping", algo.cg_damping, "must be >= 0")
    check(
        algo.fisher_product in FISHER_PRODUCTS,
        "algo.fisher_product",
        algo.fisher_product,
        f"unknown fisher_product; valid: {list(FISHER_PRODUCTS)}",
    )
    for field in ("cg_iterations", "backtrack_steps", "fisher_sample_stride"):
        check(algo[field] >= 1, f"algo.{field}", algo[field], "must be at least 1")
    check(
        0.0 < algo.backtrack_ratio < 1.0,
        "algo.backtrack_ratio",
        algo.backtrack_ratio,
        "must lie in (0, 1)",
    )
    check(
        algo.scale_matching in SCALE_MATCHINGS,
        "algo.scale_matching",
        algo.scale_matching,
        f"unknown scale_matching; valid: {list(SCALE_MATCHINGS)}",
    )


class Linearisation(NamedTuple):
    """The local problem of one update, as the constraint sets it."""

    objective_advantage: jax.Array  # [T, N], the advantage of the reward surrogate g
    constraint_weights: jax.Array  # [K] weights of the centred stream advantages in L_con
    constraint_value: jax.Array  # c, episode units (c ≤ 0 is feasible)
    violation_budget: jax.Array  # largest tolerated worst-case increase of c (∞: none)


class Constraint(NamedTuple):
    """How an algorithm of the family linearises its constraint.

    ``linearise(state, hyperparams, batch) -> (state, Linearisation, metrics)``.
    """

    init: Callable[[Hyperparams], Any]
    linearise: Callable[[Any, Hyperparams, on_policy.Batch], tuple[Any, Linearisation, dict]]
    hyperparams: Hyperparams
    augmented_state: bool  # the constraint needs s̃ and the ĉ stream (VaR-CPO)


class Tests(NamedTuple):
    """What an acceptance rule sees of one line-search candidate."""

    kl: jax.Array  # mean KL(π_k ‖ π_candidate)
    max_kl: jax.Array  # δ of this update
    improvement: jax.Array  # change of the reward surrogate
    constraint_change: jax.Array  # change of the constraint surrogate L_con
    constraint_value: jax.Array  # c, scale-matched
    case: jax.Array  # the CPO solve's case (0..4)


ACCEPTANCE_RULES: dict[str, Callable[[Tests], jax.Array]] = {
    # CPO / VaR-CPO: KL, a bounded constraint surrogate and (cases ≥ 2) no loss of objective.
    "cpo": lambda t: (
        (t.kl <= t.max_kl)
        & (t.constraint_change <= jnp.maximum(-t.constraint_value, 0.0))
        & ((t.case < 2) | (t.improvement >= 0.0))
    ),
    # TRPO: KL and no loss of objective.
    "trpo": lambda t: (t.kl <= t.max_kl) & (t.improvement >= 0.0),
    # KL only (CSC's natural-gradient step).
    "kl": lambda t: t.kl <= t.max_kl,
}


def effective_horizon(
    episode_length: jax.Array, cost_discount: float, scale_matching: str
) -> jax.Array:
    """H: the per-step surrogate times H approximates the episode-level change (§A.1)."""
    if scale_matching == "none":
        return jnp.float32(1.0)
    if cost_discount >= 1.0:
        return jnp.maximum(episode_length, 1.0)
    return jnp.clip(episode_length, 1.0, 1.0 / (1.0 - cost_discount))


def cpo_policy_update(
    algo: ml_collections.ConfigDict,
    policy_network: Any,
    constraint: Constraint,
    acceptance: str = "cpo",
) -> on_policy.PolicyUpdate:
    """The CPO-style step of ``constraint``, accepting candidates by rule ``acceptance``.

    Args:
        algo: ``config.algo`` (see :func:`default_config`; ``max_kl_mode``, ``min_max_kl`` are
            read when present).
        policy_network: the frame's policy network (:func:`jaxsafe.networks.make_policy`).
        constraint: the algorithm's linearisation.
        acceptance: a key of :data:`ACCEPTANCE_RULES`.
    """
    accept = ACCEPTANCE_RULES[acceptance]
    adaptive_max_kl = algo.get("max_kl_mode", "fixed") == "adaptive"
    hyperparams = {"max_kl": jnp.float32(algo.max_kl), **constraint.hyperparams}

    def step(learner, policy_params, prepared: on_policy.Prepared, hyperparams: Hyperparams):
        batch = prepared.batch
        learner, linearisation, constraint_metrics = constraint.linearise(
            learner, hyperparams, batch
        )
        horizon = effective_horizon(prepared.moments[2], algo.cost_discount, algo.scale_matching)
        c = linearisation.constraint_value / horizon
        advantages = batch.advantages
        centred = advantages - advantages.mean(axis=(1, 2), keepdims=True)
        constraint_advantage = jnp.tensordot(linearisation.constraint_weights, centred, axes=1)

        batch_size = algo.num_envs * algo.num_steps
        samples = jax.tree.map(
            lambda x: x.reshape(batch_size, *x.shape[2:]),
            {
                "observation": prepared.observation,
                "action": batch.trajectory.action,
                "log_prob": batch.trajectory.log_prob,
                "objective": linearisation.objective_advantage,
                "constraint": constraint_advantage,
            },
        )
        old_params = policy_params
        old_distribution = policy_network.apply(old_params, samples["observation"])

        def surrogates(params):
            distribution = policy_network.apply(params, samples["observation"])
            ratio = jnp.exp(distribution.log_prob(samples["action"]) - samples["log_prob"])
            return jnp.stack(
                [jnp.mean(ratio * samples["objective"]), jnp.mean(ratio * samples["constraint"])]
            )

        def mean_kl(params):
            distribution = policy_network.apply(params, samples["observation"])
            return jnp.mean(old_distribution.kl_divergence(distribution))

        # g, b and H v on the actor only, then the CPO solve.
        surrogates_old, pullback = jax.vjp(surrogates, old_params)
        (g,) = pullback(jnp.array([1.0, 0.0]))
        (b,) = pullback(jnp.array([0.0, 1.0]))
        hvp = fisher_product(old_params, prepared.observation[:: algo.fisher_sample_stride])
        max_kl = hyperparams["max_kl"]
        if adaptive_max_kl:
            # VARCPO.md (35)–(36): the linear model's worst case within the region,
            # H·√(2δ bᵀH⁻¹b), must stay within the violation budget Δ.
            s = tree_vdot(b, conjugate_gradient(hvp, b, algo.cg_iterations))
            budget = linearisation.violation_budget
            adaptive = budget**2 / jnp.maximum(2.0 * s * horizon**2, 1e-12)
            max_kl = jnp.where(
                jnp.isfinite(budget), jnp.clip(adaptive, algo.min_max_kl, max_kl), max_kl
            )
        proposed, info = cpo_step(g, b, c, hvp, max_kl, algo.cg_iterations)

        def evaluate(params):
            objective, constraint_surrogate = surrogates(params)
            tests = Tests(
                kl=mean_kl(params),
                max_kl=max_kl,
                improvement=objective - surrogates_old[0],
                constraint_change=constraint_surrogate - surrogates_old[1],
                constraint_value=c,
                case=info.case,
            )
            return accept(tests), {
                "kl": tests.kl,
                "improvement": tests.improvement,
                "constraint_change": tests.constraint_change,
            }

        policy_params, search = backtracking_line_search(
            old_params,
            proposed,
            geometric_fractions(algo.backtrack_ratio, algo.backtrack_steps),
            evaluate,
        )
        accepted = search.accepted
        kept = jax.tree.map(lambda m: jnp.where(accepted, m, 0.0), search.metrics)
        metrics = {
            **constraint_metrics,
            "loss/policy": -(surrogates_old[0] + kept["improvement"]),
            "policy/kl": kept["kl"],
            "policy/improvement": kept["improvement"],
            "policy/entropy": old_distribution.entropy().mean(),
            "trust_region/case": info.case,
            "trust_region/lambda": info.lagrange_multiplier,
            "trust_region/nu": info.cost_multiplier,
            "trust_region/q": info.q,
            "trust_region/r": info.r,
            "trust_region/s": info.s,
            "trust_region/c": c,
            "trust_region/max_kl": max_kl,
            "trust_region/horizon": horizon,
            "trust_region/accepted": accepted.astype(jnp.float32),
            "trust_region/step_fraction": search.step_fraction,
            "trust_region/constraint_change": kept["constraint_change"],
        }
        return learner, policy_params, metrics

    def fisher_product(params, observation: jax.Array):
        """``v -> (H + ζI) v``, H the mean-KL Hessian at ``params`` on ``[T', N, ...]`` states."""
        observation = observation.reshape(-1, *observation.shape[2:])
        old = policy_network.apply(params, observation)

        def policy_on_batch(params):
            return policy_network.apply(params, observation)

        if algo.fisher_product == "hessian":
            return fisher_vector_product(
                lambda params: jnp.mean(old.kl_divergence(policy_on_batch(params))),
                params,
                algo.cg_damping,
            )
        return gauss_newton_vector_product(
            lambda params: distribution_parameters(policy_on_batch(params)),
            lambda u: jnp.mean(old.kl_divergence(distribution_from_parameters(u, old))),
            params,
            algo.cg_damping,
        )

    return on_policy.PolicyUpdate(
        init=lambda policy_params, hyperparams: constraint.init(hyperparams),
        step=step,
        hyperparams=hyperparams,
    )


def make_frame(
    config: ml_collections.ConfigDict,
    env,
    env_params,
    constraint: Constraint,
    acceptance: str = "cpo",
    exceedance_threshold: float | None = None,
) -> tuple[Any, on_policy.Frame]:
    """The algorithm and its frame (whose phases the benchmarks time one by one)."""
    frame = on_policy.make_frame(
        config,
        env,
        env_params,
        lambda network: cpo_policy_update(config.algo, network, constraint, acceptance),
        augmented_state=constraint.augmented_state,
        cost_scale=float(config.algo.cost_limit),
        exceedance_threshold=exceedance_threshold,
    )
    return on_policy.algorithm(frame), frame
