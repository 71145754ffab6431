"""The trust-region family: one CPO-style update shared by TRPO-Lagrangian, CPO and VaR-CPO.

Achiam et al., "Constrained Policy Optimization" (ICML 2017), Algorithm 1 (ALGORITHMS.md §A.4),
with the ingredients of VaR-CPO (VARCPO.md §3). One update:

1. collects a batch with π_k (``num_envs × num_steps``), on the cost-augmented state s̃ when the
   constraint needs it (:mod:`jaxsafe.augmented_state`);
2. evaluates the K critics (reward V, cost V_C and, for VaR-CPO, augmented cost V_ĉ) and runs
   GAE on each stream, bootstrapping at truncations and the batch cut but not at terminations;
3. estimates the episode-level quantities the constraint needs (μ̂ = E[C], Ĵ_ĉ; see
   :func:`moment_estimates`) and lets the algorithm's :class:`Constraint` linearise it:
   an objective advantage (the standardised Â, or TRPO-Lagrangian's penalised one), weights of
   the centred cost advantages forming the constraint surrogate L_con(θ) = (1/M) Σ ρ_t Â^con_t,
   and the constraint value c in episode units;
4. **[FIX] scale matching** (ALGORITHMS.md §A.1, VARCPO.md §3): c is divided by the effective
   horizon H (the mean episode length, or min(that, 1/(1 − γ_c)) for γ_c < 1) so that it is in
   the per-step units of b = ∇L_con;
5. solves the local problem max gᵀx s.t. c + bᵀx ≤ 0, ½ xᵀHx ≤ δ with conjugate gradient on
   Fisher-vector products of the actor only (:func:`jaxsafe.trust_region.cpo_step`);
6. backtracks over θ_k + β^j x, all candidates in one vmap, taking the first with KL ≤ δ,
   ΔL_con ≤ max(−c, 0) (the same surrogate and scale as the step, **[FIX]** for VaR-CPO) and,
   in cases ≥ 2, no decrease of the reward surrogate; reverts when none passes;
7. fits the critics on their λ-returns, each with its own optimiser and PopArt-normalised
   targets (:mod:`jaxsafe.critics`).

With ``cost_shaping.horizon > 0`` (CPO and TRPO-Lagrangian, :mod:`jaxsafe.cost_shaping`) the
constrained cost is C⁺ = C + α P_φ(s → U): the bonus α P_φ is one more stream with its own critic,
the constraint sees the cost stream's advantage plus the bonus's and μ̂ + α P̄ L̄, and the fault
predictor is fitted after the critics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections

from jaxsafe import cost_shaping, episode_statistics, normalization, rollout
from jaxsafe.advantages import gae_over_environments
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.augmented_state import CostAugmentedEnv
from jaxsafe.cantelli import augmented_cost
from jaxsafe.cost_shaping import FaultPredictorState, shaping_margin
from jaxsafe.critics import Critics, CriticState
from jaxsafe.networks import make_policy
from jaxsafe.trust_region import (
    backtracking_line_search,
    conjugate_gradient,
    cpo_step,
    fisher_vector_product,
)
from jaxsafe.trust_region.conjugate_gradient import tree_vdot

MOMENT_ESTIMATORS = ("segments", "critic", "episodes")
CRITIC_NORMALIZATIONS = ("popart", "none")
SCALE_MATCHINGS = ("horizon", "none")

REWARD, COST, AUGMENTED_COST = 0, 1, 2
"""Indices of the streams (and critics): reward, cost and, with an augmented state, ĉ. With cost
shaping the bonus α P_φ is the last stream."""


def default_config() -> ml_collections.ConfigDict:
    """Trust-region hyper-parameters (safety-starter-agents / VaR-CPO App. B defaults)."""
    return ml_collections.ConfigDict(
        {
            "num_envs": 64,  # parallel environments
            "num_steps": 128,  # rollout length; batch = num_envs × num_steps
            "discount": 0.99,
            "gae_lambda": 0.95,
            "cost_discount": 0.99,
            "cost_gae_lambda": 0.95,
            "max_kl": 0.01,  # δ, the trust region of the mean KL(π_k ‖ π_θ)
            "cg_iterations": 10,
            "cg_damping": 0.1,  # ζ of the Fisher-vector product
            "backtrack_ratio": 0.8,  # β of the line search
            "backtrack_steps": 10,  # J candidates
            "learning_rate": 1e-3,  # the critics' Adam step
            "num_epochs": 10,  # critic passes over the batch
            "num_minibatches": 8,  # critic minibatches per pass (80 steps, as the references)
            "max_grad_norm": 1.0,  # each critic's own gradient clip
            "critic_normalization": "popart",  # "popart" | "none" (the reference's defect)
            "critic_statistics_rate": 0.1,  # PopArt moving-average rate per batch
            "moment_estimator": "segments",  # "segments" | "critic" | "episodes", see below
            "scale_matching": "horizon",  # "horizon" | "none" (OmniSafe's / VaR-CPO ref.'s)
            "hidden_sizes": (64, 64),
            "initial_log_std": -0.5,
            "normalize_observations": True,
        }
    )


class Batch(NamedTuple):
    """What a constraint sees of one batch; stream arrays are ``[K, T, N]``.

    With cost shaping, "cost" is the shaped C⁺ throughout: the cost stream's advantage includes
    the bonus's, and μ̂ = E[C⁺].
    """

    trajectory: rollout.Trajectory
    records: episode_statistics.EpisodeRecord  # the episodes that ended in the batch
    advantages: jax.Array  # raw GAE of each stream (reward, cost, ĉ)
    episode: dict[str, jax.Array]  # means over the episodes that ended, episode_statistics
    mean_cost: jax.Array  # μ̂ = E[C], C the γ_c-discounted episode cost
    augmented_return: jax.Array  # Ĵ_ĉ = E[Σ γ_c^t ĉ_t] (0 without an augmented state)


class Rollout(NamedTuple):
    trajectory: rollout.Trajectory  # [T, N, ...]
    records: episode_statistics.EpisodeRecord  # [T, N]


class Prepared(NamedTuple):
    """A batch with its values, advantages and episode-level estimates."""

    batch: Batch
    observation: jax.Array  # [T, N, D] normalised s̃_t
    values: jax.Array  # [K, T, N], every critic's
    advantages: jax.Array  # [K, T, N], raw GAE of every stream: the critics' targets − values
    estimates: dict[str, tuple[jax.Array, jax.Array, jax.Array]]  # see moment_estimates
    moments: jax.Array  # [3] (μ̂, Ĵ_ĉ, mean episode length; the latest when none ended)
    metrics: dict[str, jax.Array]  # diagnostics of this phase


class Phases(NamedTuple):
    """The update as four pure functions; ``update`` runs them in this order."""

    collect: Callable[[Any], tuple[Any, Rollout]]
    prepare: Callable[[Any, Rollout], Prepared]
    policy_step: Callable[[Any, Prepared], tuple[Any, dict[str, jax.Array]]]
    fit_critics: Callable[[Any, Prepared], tuple[Any, dict[str, jax.Array]]]


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
    linearise: Callable[[Any, Hyperparams, Batch], tuple[Any, Linearisation, dict]]
    hyperparams: Hyperparams
    augmented_state: bool  # the constraint needs s̃ and the ĉ stream (VaR-CPO)
    threshold: float  # d, scales the C_t feature of s̃


class TrustRegionState(NamedTuple):
    """Everything the family carries from one update to the next."""

    policy_params: Any
    critics: CriticState  # leading [K] axis
    normalizer: normalization.RunningMeanStd
    runner: rollout.RunnerState
    constraint: Any  # the constraint's own state (multiplier, recovery flag, ...)
    fault_predictor: FaultPredictorState | tuple  # () without cost shaping
    moments: jax.Array  # [3]: the latest (μ̂, Ĵ_ĉ, mean episode length)
    hyperparams: Hyperparams
    key: jax.Array
    update_step: jax.Array  # int32


def effective_horizon(
    episode_length: jax.Array, cost_discount: float, scale_matching: str
) -> jax.Array:
    """H: the per-step surrogate times H approximates the episode-level change (§A.1)."""
    if scale_matching == "none":
        return jnp.float32(1.0)
    if cost_discount >= 1.0:
        return jnp.maximum(episode_length, 1.0)
    return jnp.clip(episode_length, 1.0, 1.0 / (1.0 - cost_discount))


def moment_estimates(
    trajectory: rollout.Trajectory,
    records: episode_statistics.EpisodeRecord,
    cost_values: jax.Array,
    next_cost_values: jax.Array,
    augmented_values: jax.Array | None,
    next_augmented_values: jax.Array | None,
    cost_discount: float,
    alpha: jax.Array,
    threshold: jax.Array,
) -> dict[str, jax.Array]:
    """μ̂ = E[C] and Ĵ_ĉ = β E[C²] + 2dμ by three estimators (VARCPO.md §3, "Estimating").

    ``"segments"`` (the recommended default): one estimate per episode segment of the batch:
    a finished episode gives its realised C (and β C² + 2dC, since the realised ĉ-return of a
    prefix is β C_t² + 2d C_t by identity (25)); a segment cut by the batch end at s̃' gives
    C' + γ^{t'} V_C(s̃') and β C'² + 2d C' + γ^{t'} V_ĉ(s̃') (**[FIX]** the γ^t factor).
    ``"critic"``: per-sample totals C_t + γ^t V_C(s̃_t) (and the ĉ analogue), averaged over the
    batch. ``"episodes"``: finished episodes only, with their count (0: none, and the update
    falls back to the critic form).

    Returns:
        ``{estimator: (μ̂, Ĵ_ĉ, count)}``; Ĵ_ĉ is 0 without ĉ critics.
    """
    beta = 1.0 / alpha - 1.0
    realised_prefix = lambda c: beta * c**2 + 2.0 * threshold * c  # noqa: E731

    finished = records.done
    episode_costs = records.discounted_cost
    # Segments cut by the batch end: every environment whose last step did not end its episode.
    cut = ~(trajectory.terminated[-1] | trajectory.truncated[-1])
    cut_cost = trajectory.cost_so_far[-1] + trajectory.cost_discount[-1] * trajectory.cost[-1]
    cut_discount = trajectory.cost_discount[-1] * cost_discount
    cut_mean = cut_cost + cut_discount * next_cost_values[-1]
    per_sample_mean = trajectory.cost_so_far + trajectory.cost_discount * cost_values
    if augmented_values is None:
        cut_augmented = jnp.zeros_like(cut_cost)
        per_sample_augmented = jnp.zeros_like(per_sample_mean)
        finished_augmented = jnp.zeros_like(episode_costs)
    else:
        cut_augmented = realised_prefix(cut_cost) + cut_discount * next_augmented_values[-1]
        per_sample_augmented = (
            realised_prefix(trajectory.cost_so_far) + trajectory.cost_discount * augmented_values
        )
        finished_augmented = realised_prefix(episode_costs)

    num_finished = finished.sum()
    num_segments = num_finished + cut.sum()

    def mean_over(total, count):
        return total / jnp.maximum(count, 1)

    return {
        "segments": (
            mean_over(
                jnp.sum(jnp.where(finished, episode_costs, 0.0)) + jnp.sum(cut * cut_mean),
                num_segments,
            ),
            mean_over(
                jnp.sum(jnp.where(finished, finished_augmented, 0.0))
                + jnp.sum(cut * cut_augmented),
                num_segments,
            ),
            num_segments,
        ),
        "critic": (per_sample_mean.mean(), per_sample_augmented.mean(), per_sample_mean.size),
        "episodes": (
            mean_over(jnp.sum(jnp.where(finished, episode_costs, 0.0)), num_finished),
            mean_over(jnp.sum(jnp.where(finished, finished_augmented, 0.0)), num_finished),
            num_finished,
        ),
    }


def make(config: ml_collections.ConfigDict, env, env_params, constraint: Constraint) -> Algorithm:
    """An algorithm of the trust-region family on ``env``, given its ``constraint``."""
    return make_with_phases(config, env, env_params, constraint)[0]


def make_with_phases(
    config: ml_collections.ConfigDict, env, env_params, constraint: Constraint
) -> tuple[Algorithm, Phases]:
    """The algorithm and the four phases of its update, which the benchmarks time one by one."""
    algo = config.algo
    if constraint.augmented_state:
        env = CostAugmentedEnv(env, algo.cost_discount, constraint.threshold)
    num_envs, num_steps = algo.num_envs, algo.num_steps
    batch_size = num_envs * num_steps
    fault_predictor = cost_shaping.from_config(algo)
    shaped = fault_predictor is not None
    num_streams = 2 + int(constraint.augmented_state) + int(shaped)
    shaping_stream = num_streams - 1
    observation_shape = env.observation_space(env_params).shape
    counter_names = rollout.episode_counter_names(env, env_params)
    initial_length = float(jax.device_get(env_params.max_steps_in_episode))

    policy_net = make_policy(env.action_space(env_params), algo.hidden_sizes, algo.initial_log_std)
    critics = Critics(
        algo.hidden_sizes,
        algo.learning_rate,
        algo.max_grad_norm,
        normalize_targets=algo.critic_normalization == "popart",
        statistics_rate=algo.critic_statistics_rate,
    )
    adaptive_trust_region = algo.get("trust_region", "fixed") == "adaptive"
    hyperparams = {"max_kl": jnp.float32(algo.max_kl), **constraint.hyperparams}
    if shaped:
        hyperparams["cost_shaping_coefficient"] = jnp.float32(algo.cost_shaping.coefficient)
    stream_discounts = jnp.array([algo.discount, *[algo.cost_discount] * (num_streams - 1)])
    stream_lambdas = jnp.array([algo.gae_lambda, *[algo.cost_gae_lambda] * (num_streams - 1)])

    def normalize(normalizer, observation):
        if not algo.normalize_observations:
            return observation
        return normalization.normalize(normalizer, observation)

    def init(key: jax.Array, hyperparams: Hyperparams) -> TrustRegionState:
        key_policy, key_critics, key_env, key = jax.random.split(key, 4)
        if shaped:
            key, key_predictor = jax.random.split(key)
        dummy = jnp.zeros(observation_shape, jnp.float32)
        return TrustRegionState(
            policy_params=policy_net.init(key_policy, dummy),
            critics=critics.init(key_critics, num_streams, dummy),
            normalizer=normalization.init(observation_shape),
            runner=rollout.reset(env, env_params, key_env, num_envs, counter_names),
            constraint=constraint.init(hyperparams),
            fault_predictor=fault_predictor.init(key_predictor, dummy) if shaped else (),
            moments=jnp.array([0.0, 0.0, initial_length], jnp.float32),
            hyperparams=hyperparams,
            key=key,
            update_step=jnp.int32(0),
        )

    def act(state: TrustRegionState, observation, key, deterministic: bool = False):
        distribution = policy_net.apply(
            state.policy_params, normalize(state.normalizer, observation)
        )
        return distribution.mode() if deterministic else distribution.sample(seed=key)

    def collect(state: TrustRegionState) -> tuple[TrustRegionState, Rollout]:
        """Phase 1: a batch with π_k; advances the environments and the key."""
        key, key_rollout = jax.random.split(state.key)

        def behaviour(observation, key):
            distribution = policy_net.apply(
                state.policy_params, normalize(state.normalizer, observation)
            )
            return distribution.sample_and_log_prob(seed=key)

        runner, trajectory, records = rollout.collect(
            env,
            env_params,
            behaviour,
            state.runner,
            key_rollout,
            num_steps,
            algo.discount,
            algo.cost_discount,
        )
        return state._replace(runner=runner, key=key), Rollout(trajectory, records)

    def prepare(state: TrustRegionState, batch: Rollout) -> Prepared:
        """Phase 2: every stream's values and GAE, the episode-level estimates."""
        trajectory, records = batch
        hyperparams = state.hyperparams
        observation = normalize(state.normalizer, trajectory.observation)
        next_observation = normalize(state.normalizer, trajectory.next_observation)
        values = critics.values(state.critics, observation)  # [K, T, N]
        next_values = critics.values(state.critics, next_observation)
        streams = [trajectory.reward, trajectory.cost]
        if constraint.augmented_state:
            streams.append(
                augmented_cost(
                    trajectory.cost,
                    trajectory.cost_so_far,
                    trajectory.cost_discount,
                    hyperparams["alpha"],
                    hyperparams["cost_limit"],
                )
            )
        if shaped:
            fault_probability = fault_predictor.probability(state.fault_predictor, observation)
            streams.append(hyperparams["cost_shaping_coefficient"] * fault_probability)
        gae = jax.vmap(
            lambda rewards, values, next_values, discount, lam: gae_over_environments(
                rewards,
                values,
                next_values,
                trajectory.terminated,
                trajectory.truncated,
                discount,
                lam,
            )
        )
        advantages = gae(jnp.stack(streams), values, next_values, stream_discounts, stream_lambdas)

        episode = episode_statistics.summarize(records, config.log.get("cost_threshold"))
        estimates = moment_estimates(
            trajectory,
            records,
            values[COST],
            next_values[COST],
            values[AUGMENTED_COST] if constraint.augmented_state else None,
            next_values[AUGMENTED_COST] if constraint.augmented_state else None,
            algo.cost_discount,
            hyperparams.get("alpha", jnp.float32(0.5)),
            hyperparams.get("cost_limit", jnp.float32(0.0)),
        )
        # An estimator without samples (no finished episode) falls back to the critic form.
        mean_cost, augmented_return, count = estimates[algo.moment_estimator]
        critic_mean_cost, critic_augmented_return, _ = estimates["critic"]
        mean_cost = jnp.where(count > 0, mean_cost, critic_mean_cost)
        augmented_return = jnp.where(count > 0, augmented_return, critic_augmented_return)
        episode_length = jnp.where(
            episode["episode/count"] > 0, episode["episode/length"], state.moments[2]
        )
        constrained_advantages, metrics = advantages, {}
        if shaped:
            # C⁺ = C + α P_φ: the constraint sees one cost stream, E[C⁺] = μ̂ + α P̄ L̄.
            margin = shaping_margin(
                fault_probability, hyperparams["cost_shaping_coefficient"], episode_length
            )
            mean_cost = mean_cost + margin
            metrics = {
                "cost_shaping/margin": margin,
                "cost_shaping/fault_probability": fault_probability.mean(),
            }
            constrained_advantages = advantages.at[COST].add(advantages[shaping_stream])[
                :shaping_stream
            ]
        moments = jnp.stack([mean_cost, augmented_return, episode_length])
        return Prepared(
            Batch(trajectory, records, constrained_advantages, episode, moments[0], moments[1]),
            observation,
            values,
            advantages,
            estimates,
            moments,
            metrics,
        )

    def policy_step(
        state: TrustRegionState, prepared: Prepared
    ) -> tuple[TrustRegionState, dict[str, jax.Array]]:
        """Phase 3: the constraint's local problem, the CPO solve and the line search."""
        batch, hyperparams = prepared.batch, state.hyperparams
        constraint_state, linearisation, constraint_metrics = constraint.linearise(
            state.constraint, hyperparams, batch
        )
        horizon = effective_horizon(prepared.moments[2], algo.cost_discount, algo.scale_matching)
        c = linearisation.constraint_value / horizon
        advantages = batch.advantages
        centred = advantages - advantages.mean(axis=(1, 2), keepdims=True)
        constraint_advantage = jnp.tensordot(linearisation.constraint_weights, centred, axes=1)

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
        old_params = state.policy_params
        old_distribution = policy_net.apply(old_params, samples["observation"])

        def surrogates(params):
            distribution = policy_net.apply(params, samples["observation"])
            ratio = jnp.exp(distribution.log_prob(samples["action"]) - samples["log_prob"])
            return jnp.stack(
                [jnp.mean(ratio * samples["objective"]), jnp.mean(ratio * samples["constraint"])]
            )

        def mean_kl(params):
            distribution = policy_net.apply(params, samples["observation"])
            return jnp.mean(old_distribution.kl_divergence(distribution))

        # g, b and H v on the actor only, then the CPO solve.
        surrogates_old, pullback = jax.vjp(surrogates, old_params)
        (g,) = pullback(jnp.array([1.0, 0.0]))
        (b,) = pullback(jnp.array([0.0, 1.0]))
        hvp = fisher_vector_product(mean_kl, old_params, algo.cg_damping)
        max_kl = hyperparams["max_kl"]
        if adaptive_trust_region:
            # VARCPO.md (35)–(36): the linear model's worst case within the region,
            # H·√(2δ bᵀH⁻¹b), must stay within the violation budget Δ.
            s = tree_vdot(b, conjugate_gradient(hvp, b, algo.cg_iterations))
            budget = linearisation.violation_budget
            adaptive = budget**2 / jnp.maximum(2.0 * s * horizon**2, 1e-12)
            max_kl = jnp.where(
                jnp.isfinite(budget), jnp.clip(adaptive, algo.min_max_kl, max_kl), max_kl
            )
        step, info = cpo_step(g, b, c, hvp, max_kl, algo.cg_iterations)

        # Backtracking: the first candidate with KL ≤ δ, a bounded constraint surrogate and
        # (cases ≥ 2) no loss of reward surrogate.
        def evaluate(params):
            objective, constraint_surrogate = surrogates(params)
            kl = mean_kl(params)
            improvement = objective - surrogates_old[0]
            constraint_change = constraint_surrogate - surrogates_old[1]
            acceptable = (
                (kl <= max_kl)
                & (constraint_change <= jnp.maximum(-c, 0.0))
                & ((info.case < 2) | (improvement >= 0.0))
            )
            return acceptable, {
                "kl": kl,
                "improvement": improvement,
                "constraint_change": constraint_change,
            }

        policy_params, search = backtracking_line_search(
            old_params, step, evaluate, algo.backtrack_ratio, algo.backtrack_steps
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
        state = state._replace(
            policy_params=policy_params, constraint=constraint_state, moments=prepared.moments
        )
        return state, metrics

    def fit_critics(
        state: TrustRegionState, prepared: Prepared
    ) -> tuple[TrustRegionState, dict[str, jax.Array]]:
        """Phase 4: every critic on its λ-returns; with cost shaping, the fault predictor."""
        key, key_critics = jax.random.split(state.key)
        targets = (prepared.advantages + prepared.values).reshape(num_streams, batch_size)
        observation = prepared.observation.reshape(batch_size, *observation_shape)
        critic_state, losses = critics.fit(
            state.critics, observation, targets, key_critics, algo.num_epochs, algo.num_minibatches
        )
        state = state._replace(critics=critic_state, key=key)
        metrics = {"loss/value": losses[REWARD], "loss/cost_value": losses[COST]}
        if constraint.augmented_state:
            metrics["loss/augmented_cost_value"] = losses[AUGMENTED_COST]
        if shaped:
            trajectory = prepared.batch.trajectory
            predictor_state, predictor_metrics = fault_predictor.fit_on_rollout(
                state.fault_predictor,
                prepared.observation,
                trajectory.cost,
                trajectory.terminated | trajectory.truncated,
                algo.cost_shaping.horizon,
            )
            state = state._replace(fault_predictor=predictor_state)
            metrics |= {"loss/shaping_value": losses[shaping_stream], **predictor_metrics}
        return state, metrics

    def update(state: TrustRegionState) -> tuple[TrustRegionState, dict[str, jax.Array]]:
        state, batch = collect(state)
        prepared = prepare(state, batch)
        state, policy_metrics = policy_step(state, prepared)
        state, critic_metrics = fit_critics(state, prepared)
        # The normaliser learns from this batch only after it has been used.
        observation = batch.trajectory.observation.reshape(batch_size, *observation_shape)
        state = state._replace(
            normalizer=normalization.update(state.normalizer, observation),
            update_step=state.update_step + 1,
        )
        trajectory, estimates = batch.trajectory, prepared.estimates
        metrics = {
            **prepared.batch.episode,
            **prepared.metrics,
            **policy_metrics,
            **critic_metrics,
            "constraint/mean_cost": prepared.moments[0],
            "constraint/mean_cost_critic": estimates["critic"][0],
            "constraint/mean_cost_episodes": estimates["episodes"][0],
            "batch/cost": trajectory.cost.mean(),
            "batch/cost_value": prepared.values[COST].mean(),
        }
        if constraint.augmented_state:
            metrics["constraint/augmented_return"] = prepared.moments[1]
            metrics["constraint/augmented_return_critic"] = estimates["critic"][1]
        return state, metrics

    phases = Phases(collect, prepare, policy_step, fit_critics)
    return Algorithm(
        init=init,
        update=update,
        act=act,
        hyperparams=hyperparams,
        steps_per_update=batch_size,
        env=env,
        env_params=env_params,
    ), phases
