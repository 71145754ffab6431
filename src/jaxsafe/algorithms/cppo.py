"""CPPO-EM: Constrained Proximal Policy Optimization as expectation-maximisation.

Xuan, Zhang, Yin & Lam, "Constrained Proximal Policy Optimization" (arXiv 2305.14216),
Algorithm 2 (App. C.4); ALGORITHMS.md §B. Not CVaR-PPO (Ying et al. 2022, ``cvar_ppo``). On the
on-policy frame (:mod:`jaxsafe.algorithms.on_policy`), one update is

1. roll out π_k; GAE for reward and cost (terminated ≠ truncated, §0.1), both advantages only
   centred over the batch (§B.1);
2. the episode-level cost Ĵ_C of the batch decides the mode (§B.5): recovery once Ĵ_C > d,
   normal again once Ĵ_C < d_sw = ``switch_cost_fraction`` · d;
3. **E-step** (:mod:`jaxsafe.solvers.cppo_e_step`): the optimal ratios v = 1 + 𝐯 of the N
   samples, max 𝐯·𝐀 s.t. 𝐯·𝐀_c ≤ N d′, ‖𝐯‖² ≤ R², Σ𝐯 = 0, 𝐯 ≥ b_low, by the planar closed
   form and the masking heuristic (normal angle rule, or the three-case recovery rule); in
   recovery, targets at J radii R √(j/J);
4. **M-step** (:mod:`jaxsafe.algorithms.cppo_m_step`): full-batch Adam on the lower-clipped
   tracking loss with w = sg(v − r_θ) at every step (in recovery the β projection onto Â_c),
   stopping once KL(π_k ‖ π_θ) > ``m_step_kl_stop`` · ``kl_target``;
5. the critics on their λ-returns (the frame's, own learning rate).

The flagged ambiguities of §B.9 are switches: ``radius_mode`` (R² = Nδ′ or 2Nδ′),
``budget_coefficient`` (n or M in Algorithm 1's budget), ``lower_bound`` (b_low),
``switch_cost_fraction``, ``recovery_radii`` and ``radius_margin`` (the multi-radius rule),
``m_step_iterations`` and ``m_step_kl_stop``, and ``limit_scale`` (d′ from the undiscounted
episode cost over T̄, or the paper-literal (1 − γ_c)(d − J_C)). ``recovery = False`` is the
ablation without the recovery update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxsafe.algorithms import on_policy
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.algorithms.cppo_m_step import m_step
from jaxsafe.algorithms.on_policy import Frame
from jaxsafe.solvers import cppo_e_step
from jaxsafe.solvers.cppo_e_step import e_step


def default_config() -> ml_collections.ConfigDict:
    """The frame's fields and CPPO-EM's (Table 2 where the paper gives a value)."""
    config = on_policy.default_config()
    config.gae_lambda = 0.97  # Table 2 (γ 0.99, γ_c 0.99, λ_c 0.95 are the frame's)
    config.cost_limit = 25.0  # d, on the undiscounted episode cost (Table 1: 25, 5, 50)
    config.policy_learning_rate = 1e-4  # Table 2; the critics' is critic_learning_rate (1e-3)
    # E-step
    config.kl_target = 0.02  # Table 2's "KL divergence constraint": δ′ = 0.02 / (2 ln 2 − 1)
    config.radius_mode = "n_delta"  # "n_delta" (R² = Nδ′) | "2n_delta" (R² = 2Nδ′)
    config.lower_bound = -0.4  # b_low: ratios ≥ 0.6, reachable under the M-step clip
    config.budget_coefficient = "unmasked"  # "unmasked" (n) | "masked" (M, as printed)
    config.limit_scale = "episode"  # "episode": (d − Ĵ_C)/T̄ | "discounted": (1 − γ_c)(d − J_C)
    config.e_step_max_iterations = 50
    # Recovery
    config.recovery = True  # False: the no-recovery ablation (normal E-step throughout)
    config.switch_cost_fraction = 0.9  # leave recovery once Ĵ_C < 0.9 d
    config.recovery_beta = 0.3  # β of the M-step's recovery gradient (Table 2)
    config.recovery_radii = 4  # J recovery targets at R √(j/J); 1: the full radius only
    config.radius_margin = 0.1  # next target once ‖r − 1‖ ≥ R_j / 1.1
    # M-step
    config.clip_coefficient = 0.4  # lower clip only: ratios not pushed below 0.6 (Table 2)
    config.m_step_iterations = 80  # full-batch Adam steps (safety-starter-agents' PPO)
    config.m_step_kl_stop = 1.2  # stop once KL(π_k ‖ π_θ) > 1.2 kl_target
    return config


steps_per_update = on_policy.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """CPPO-EM's checks (after the frame's); ``check(ok, field, value, message)``."""
    on_policy.validate(algo, check)
    check(algo.cost_limit >= 0.0, "algo.cost_limit", algo.cost_limit, "must be >= 0")
    for field in ("policy_learning_rate", "kl_target", "m_step_kl_stop"):
        check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")
    for field, valid in (
        ("radius_mode", cppo_e_step.RADIUS_MODES),
        ("budget_coefficient", cppo_e_step.BUDGET_COEFFICIENTS),
        ("limit_scale", cppo_e_step.LIMIT_SCALES),
    ):
        check(algo[field] in valid, f"algo.{field}", algo[field], f"valid: {list(valid)}")
    check(
        -1.0 < algo.lower_bound < 0.0,
        "algo.lower_bound",
        algo.lower_bound,
        "must lie in (-1, 0): ratio targets 1 + b_low > 0",
    )
    check(
        0.0 < algo.switch_cost_fraction <= 1.0,
        "algo.switch_cost_fraction",
        algo.switch_cost_fraction,
        "must lie in (0, 1]",
    )
    for field in ("recovery_beta",):
        check(0.0 <= algo[field] <= 1.0, f"algo.{field}", algo[field], "must lie in [0, 1]")
    check(
        0.0 < algo.clip_coefficient < 1.0,
        "algo.clip_coefficient",
        algo.clip_coefficient,
        "must lie in (0, 1)",
    )
    check(algo.radius_margin >= 0.0, "algo.radius_margin", algo.radius_margin, "must be >= 0")
    for field in ("recovery_radii", "m_step_iterations", "e_step_max_iterations"):
        check(algo[field] >= 1, f"algo.{field}", algo[field], "must be at least 1")


class CPPOLearner(NamedTuple):
    """What CPPO-EM carries between updates."""

    opt_state: optax.OptState  # the policy's Adam
    recovering: jax.Array  # bool, the mode of the last update
    episode_cost: jax.Array  # the latest Ĵ_C (kept when a batch finishes no episode)


class Expectation(NamedTuple):
    """The E-step's output: what the M-step tracks, and the batch quantities behind it."""

    targets: jax.Array  # [J, N] ratio targets 1 + 𝐯 at the radii (the full radius last)
    radii: jax.Array  # [J]
    solution: cppo_e_step.EStepSolution  # of the full radius
    recovering: jax.Array  # bool, this update's mode
    episode_cost: jax.Array  # Ĵ_C
    d_prime: jax.Array
    advantages: jax.Array  # [N] centred 𝐀
    cost_advantages: jax.Array  # [N] centred 𝐀_c


class CPPOSteps(NamedTuple):
    """CPPO-EM's policy step in its two phases (``benchmarks/update_split.py`` times each).

    ``expectation(learner, prepared, hyperparams) -> Expectation`` and
    ``maximisation(learner, policy_params, prepared, hyperparams, expectation)
    -> (learner, policy_params, metrics)``.
    """

    init: Callable[[Any, Hyperparams], CPPOLearner]
    expectation: Callable[..., Expectation]
    maximisation: Callable[..., tuple[CPPOLearner, Any, dict[str, jax.Array]]]
    hyperparams: Hyperparams


def cppo_steps(algo: ml_collections.ConfigDict, policy_network: Any) -> CPPOSteps:
    """The E-step and the M-step of ``algo`` for ``policy_network``."""
    optimizer = optax.adam(algo.policy_learning_rate)
    batch_size = algo.num_envs * algo.num_steps
    num_radii = algo.recovery_radii
    flat = lambda x: x.reshape(batch_size, *x.shape[2:])  # noqa: E731

    def init(policy_params, hyperparams: Hyperparams) -> CPPOLearner:
        return CPPOLearner(optimizer.init(policy_params), jnp.bool_(False), jnp.float32(0.0))

    def expectation(learner: CPPOLearner, prepared: on_policy.Prepared, hyperparams):
        batch = prepared.batch

        # 1. Centred advantages (§B.1) over the whole batch, [N].
        advantages = flat(batch.advantages[on_policy.REWARD])
        cost_advantages = flat(batch.advantages[on_policy.COST])
        advantages = advantages - advantages.mean()
        cost_advantages = cost_advantages - cost_advantages.mean()

        # 2. Ĵ_C, the per-sample budget d′ and the mode (§B.2, §B.5).
        cost_limit = hyperparams["cost_limit"]
        if algo.limit_scale == "episode":
            finished = batch.episode["episode/count"] > 0
            episode_cost = jnp.where(finished, batch.episode["episode/cost"], learner.episode_cost)
        else:
            episode_cost = batch.mean_cost  # γ_c-discounted, the frame's estimator
        d_prime = cppo_e_step.per_sample_budget(
            cost_limit, episode_cost, prepared.moments[2], algo.cost_discount, algo.limit_scale
        )
        if algo.recovery:
            recovering = cppo_e_step.recovery_mode(
                learner.recovering, episode_cost, cost_limit, algo.switch_cost_fraction * cost_limit
            )
        else:
            recovering = jnp.bool_(False)

        # 3. E-step: targets at the radii R √(j/J); the full radius is the last.
        radius = cppo_e_step.radius(batch_size, algo.kl_target, algo.radius_mode)
        radii = radius * cppo_e_step.radius_fractions(num_radii)
        solve = lambda r: e_step(  # noqa: E731
            advantages,
            cost_advantages,
            batch_size * d_prime,
            r,
            algo.lower_bound,
            recovering,
            budget_coefficient=algo.budget_coefficient,
            max_iterations=algo.e_step_max_iterations,
        )
        solutions = jax.vmap(solve)(radii)
        return Expectation(
            targets=1.0 + solutions.v,
            radii=radii,
            solution=jax.tree.map(lambda x: x[-1], solutions),
            recovering=recovering,
            episode_cost=episode_cost,
            d_prime=d_prime,
            advantages=advantages,
            cost_advantages=cost_advantages,
        )

    def maximisation(
        learner: CPPOLearner,
        policy_params,
        prepared: on_policy.Prepared,
        hyperparams: Hyperparams,
        expected: Expectation,
    ):
        batch = prepared.batch
        cost_advantages = expected.cost_advantages
        cost_norm = jnp.linalg.norm(cost_advantages)
        cost_direction = jnp.where(
            cost_norm > 0.0, cost_advantages / jnp.where(cost_norm > 0.0, cost_norm, 1.0), 0.0
        )

        # 4. M-step on the samples of π_k.
        observation = flat(prepared.observation)
        action = flat(batch.trajectory.action)
        old_log_prob = flat(batch.trajectory.log_prob)
        old_distribution = policy_network.apply(policy_params, observation)

        def ratio_and_kl(params):
            distribution = policy_network.apply(params, observation)
            ratio = jnp.exp(distribution.log_prob(action) - old_log_prob)
            return ratio, jnp.mean(old_distribution.kl_divergence(distribution))

        recovering = expected.recovering
        result = m_step(
            policy_params,
            learner.opt_state,
            optimizer,
            ratio_and_kl,
            expected.targets,
            expected.radii,
            recovering & (num_radii > 1),
            recovering,
            cost_direction,
            algo.recovery_beta,
            1.0 - algo.clip_coefficient,
            algo.m_step_kl_stop * algo.kl_target,
            algo.m_step_iterations,
            algo.radius_margin,
        )
        ratio, kl = ratio_and_kl(result.params)
        target = expected.targets[-1]
        solution = expected.solution
        lower_clip = 1.0 - algo.clip_coefficient
        metrics = {
            "e_step/iterations": solution.iterations,
            "e_step/clipped": solution.num_clipped,
            "e_step/converged": solution.converged.astype(jnp.float32),
            "e_step/mode": recovering.astype(jnp.float32),  # 1: recovery
            "e_step/case": solution.case,  # 0 normal; recovery cases 1-3 (§B.5)
            "e_step/angle": solution.angle,
            "e_step/kappa": solution.kappa,
            "e_step/radius": expected.radii[-1],
            "e_step/target_variance": jnp.mean((target - 1.0) ** 2),  # E[(v − 1)²]
            "e_step/target_cost": jnp.mean((target - 1.0) * cost_advantages),  # vs d′
            "e_step/target_reward": jnp.mean((target - 1.0) * expected.advantages),
            "m_step/steps": result.steps,
            "m_step/target_index": result.target_index,
            "m_step/tracking_error": jnp.mean((target - ratio) ** 2),
            "m_step/ratio_variance": jnp.mean((ratio - 1.0) ** 2),
            "m_step/clipped_fraction": jnp.mean((ratio < lower_clip) & (target < ratio)),
            "loss/policy": result.loss,
            "policy/kl": kl,
            "policy/ratio_min": ratio.min(),
            "policy/ratio_max": ratio.max(),
            "policy/entropy": old_distribution.entropy().mean(),
            "constraint/episode_cost": expected.episode_cost,
            "constraint/violation": expected.episode_cost - hyperparams["cost_limit"],
            "constraint/d_prime": expected.d_prime,
        }
        learner = CPPOLearner(result.opt_state, recovering, expected.episode_cost)
        return learner, result.params, metrics

    hyperparams = {"cost_limit": jnp.float32(algo.cost_limit)}
    return CPPOSteps(init, expectation, maximisation, hyperparams)


def cppo_policy_update(algo: ml_collections.ConfigDict, policy_network: Any):
    """CPPO-EM's E-step then M-step as a :class:`~on_policy.PolicyUpdate`."""
    steps = cppo_steps(algo, policy_network)

    def step(learner: CPPOLearner, policy_params, prepared: on_policy.Prepared, hyperparams):
        expected = steps.expectation(learner, prepared, hyperparams)
        return steps.maximisation(learner, policy_params, prepared, hyperparams, expected)

    return on_policy.PolicyUpdate(init=steps.init, step=step, hyperparams=steps.hyperparams)


def policy_phases(frame: Frame) -> dict[str, Callable[..., Any]]:
    """The policy step's phases on the frame's state, in order, for ``update_split.py``:
    ``"e_step": (state, prepared) -> Expectation`` and
    ``"m_step": (state, prepared, expectation) -> (learner, params, metrics)``."""
    steps = cppo_steps(frame.algo, frame.policy_network)
    return {
        "e_step": lambda state, prepared: steps.expectation(
            state.learner, prepared, state.hyperparams
        ),
        "m_step": lambda state, prepared, expected: steps.maximisation(
            state.learner, state.policy_params, prepared, state.hyperparams, expected
        ),
    }


def make_frame(config: ml_collections.ConfigDict, env, env_params) -> tuple[Algorithm, Frame]:
    """The algorithm and its on-policy frame (whose phases ``update_split.py`` times)."""
    frame = on_policy.make_frame(
        config,
        env,
        env_params,
        lambda network: cppo_policy_update(config.algo, network),
        exceedance_threshold=config.log.get("cost_threshold"),
    )
    return on_policy.algorithm(frame), frame


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return make_frame(config, env, env_params)[0]
