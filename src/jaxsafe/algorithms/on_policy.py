"""The on-policy frame: collect → prepare → policy update → fit critics, with a swappable step.

Every on-policy algorithm with separate critics is this frame plus a :class:`PolicyUpdate`
(ARCHITECTURE.md, "The update, opened")::

    update(state):
      collect(policy(state), envs)          -> trajectory [T, N] (+ the policy's extras)
      prepare(trajectory, streams)          -> values, GAE per stream, episode-level moments
      policy_update.step(learner, prepared) -> the algorithm's own policy step
      fit_critics(critics, prepared)        -> every stream's critic on its λ-returns

1. :func:`collect` steps ``num_envs`` environments ``num_steps`` times with the public
   :class:`jaxsafe.policy.Policy` of π_k, on the cost-augmented state s̃ when the step needs it
   (:mod:`jaxsafe.augmented_state`).
2. :func:`prepare` evaluates the K critics, one per *stream* (``streams``, a parameter: the
   reward; the cost; VaR-CPO's augmented cost ĉ; the cost-shaping bonus α P_φ of CPO §6.3),
   runs GAE on each, bootstrapping at truncations and the batch cut but not at terminations
   (ALGORITHMS.md §0.1), and estimates the episode-level moments (μ̂ = E[C], Ĵ_ĉ, the mean
   episode length; :func:`moment_estimates`).
3. :func:`policy_update` runs the algorithm's :class:`PolicyUpdate` on the prepared batch; what
   that step carries between updates (a multiplier, a recovery flag, a replay buffer) is its
   own *learner* state, which the frame never inspects.
4. :func:`fit_critics` regresses every critic on its λ-returns with its own optimiser and PopArt
   targets (:mod:`jaxsafe.critics`); with cost shaping the fault predictor is fitted after them.

The observation normaliser learns from a batch only after the batch has been used.
"""

from __future__ import annotations

import dataclasses
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
from jaxsafe.cost_shaping import FaultPredictor, FaultPredictorState, shaping_margin
from jaxsafe.critics import Critics, CriticState
from jaxsafe.networks import make_policy
from jaxsafe.policy import Policy, network_policy

MOMENT_ESTIMATORS = ("segments", "critic", "episodes")
CRITIC_NORMALIZATIONS = ("popart", "none")

REWARD, COST, AUGMENTED_COST = 0, 1, 2
"""Indices of the streams (and critics): reward, cost and, with an augmented state, ĉ. With cost
shaping the bonus α P_φ is the last stream."""


def default_config() -> ml_collections.ConfigDict:
    """The frame's fields: batch, discounts, networks and critics."""
    return ml_collections.ConfigDict(
        {
            "num_envs": 64,  # parallel environments
            "num_steps": 128,  # rollout length; batch = num_envs × num_steps
            "discount": 0.99,
            "gae_lambda": 0.95,
            "cost_discount": 0.99,
            "cost_gae_lambda": 0.95,
            "critic_learning_rate": 1e-3,  # the critics' Adam step
            "num_epochs": 10,  # critic passes over the batch
            "num_minibatches": 8,  # critic minibatches per pass (80 steps, as the references)
            "max_grad_norm": 1.0,  # each critic's own gradient clip
            "critic_normalization": "popart",  # "popart" | "none" (the reference's defect)
            "critic_statistics_rate": 0.1,  # PopArt moving-average rate per batch
            "moment_estimator": "segments",  # "segments" | "critic" | "episodes", see below
            "hidden_sizes": (64, 64),
            "initial_log_std": -0.5,
            "normalize_observations": True,
        }
    )


def steps_per_update(algo: ml_collections.ConfigDict) -> int:
    """Environment steps of one update: the batch ``num_envs × num_steps``."""
    return algo.num_envs * algo.num_steps


def validate_batch(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """Checks of every on-policy batch: sizes, minibatches dividing it, discounts."""
    for field in ("num_envs", "num_steps", "num_epochs", "num_minibatches"):
        check(algo[field] >= 1, f"algo.{field}", algo[field], "must be at least 1")
    batch = steps_per_update(algo)
    check(
        batch % algo.num_minibatches == 0,
        "algo.num_minibatches",
        algo.num_minibatches,
        f"must divide the batch num_envs × num_steps = {batch}",
    )
    for field in ("discount", "gae_lambda", "cost_discount", "cost_gae_lambda"):
        check(0.0 <= algo[field] <= 1.0, f"algo.{field}", algo[field], "must lie in [0, 1]")


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """The frame's checks; ``check(ok, field, value, message)`` raises on ``not ok``."""
    validate_batch(algo, check)
    check(
        algo.critic_normalization in CRITIC_NORMALIZATIONS,
        "algo.critic_normalization",
        algo.critic_normalization,
        f"unknown critic_normalization; valid: {list(CRITIC_NORMALIZATIONS)}",
    )
    check(
        algo.moment_estimator in MOMENT_ESTIMATORS,
        "algo.moment_estimator",
        algo.moment_estimator,
        f"unknown moment_estimator; valid: {list(MOMENT_ESTIMATORS)}",
    )
    for field in ("critic_learning_rate", "max_grad_norm"):
        check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")
    check(
        0.0 < algo.critic_statistics_rate < 1.0,
        "algo.critic_statistics_rate",
        algo.critic_statistics_rate,
        "must lie in (0, 1)",
    )


# ---------------------------------------------------------------------------------------------
# What the phases exchange
# ---------------------------------------------------------------------------------------------


class Batch(NamedTuple):
    """What a policy update sees of one batch; stream arrays are ``[K, T, N]``.

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


class PolicyUpdate(NamedTuple):
    """An algorithm's policy step over its own learner state.

    ``init(policy_params, hyperparams) -> learner`` (e.g. an optimiser's state for the initial
    parameters) and
    ``step(learner, policy_params, prepared, hyperparams) -> (learner, policy_params, metrics)``.
    """

    init: Callable[[Any, Hyperparams], Any]
    step: Callable[[Any, Any, Prepared, Hyperparams], tuple[Any, Any, dict[str, jax.Array]]]
    hyperparams: Hyperparams  # the step's traceable hyper-parameters and configured values


class OnPolicyState(NamedTuple):
    """Everything the frame carries from one update to the next."""

    policy_params: Any
    critics: CriticState  # leading [K] axis
    normalizer: normalization.RunningMeanStd
    runner: rollout.RunnerState
    learner: Any  # the policy update's own state (multiplier, recovery flag, ...)
    fault_predictor: FaultPredictorState | tuple  # () without cost shaping
    moments: jax.Array  # [3]: the latest (μ̂, Ĵ_ĉ, mean episode length)
    hyperparams: Hyperparams
    key: jax.Array
    update_step: jax.Array  # int32


@dataclasses.dataclass(frozen=True, eq=False)
class Frame:
    """The static pieces of one algorithm's frame (built once by :func:`make_frame`)."""

    config: ml_collections.ConfigDict
    env: Any
    env_params: Any
    policy_network: Any
    critics: Critics
    policy_update: PolicyUpdate
    streams: tuple[str, ...]  # "reward", "cost", ["augmented_cost"], ["shaping"]
    fault_predictor: FaultPredictor | None
    exceedance_threshold: float | None  # d of the logged P(C ≥ d), if any
    observation_shape: tuple[int, ...]
    counter_names: tuple[str, ...]

    @property
    def algo(self) -> ml_collections.ConfigDict:
        return self.config.algo

    @property
    def batch_size(self) -> int:
        return self.algo.num_envs * self.algo.num_steps

    @property
    def num_streams(self) -> int:
        return len(self.streams)


def make_frame(
    config: ml_collections.ConfigDict,
    env,
    env_params,
    make_policy_update: Callable[[Any], PolicyUpdate],
    augmented_state: bool = False,
    cost_scale: float = 1.0,
    exceedance_threshold: float | None = None,
) -> Frame:
    """The frame of an algorithm's policy update on ``env``.

    Args:
        config: the run config; reads ``config.algo`` (see :func:`default_config`).
        env, env_params: the task.
        make_policy_update: ``policy_network -> PolicyUpdate``, the algorithm's step.
        augmented_state: act and learn on the cost-augmented state s̃, with the ĉ stream.
        cost_scale: with ``augmented_state``, divides C_t in s̃ (the configured threshold d; a
            fixed normaliser, also when d is swept).
        exceedance_threshold: d of the per-update metric ``episode/cost_exceedance``, or None.
    """
    algo = config.algo
    if augmented_state:
        env = CostAugmentedEnv(env, algo.cost_discount, cost_scale)
    fault_predictor = cost_shaping.from_config(algo)
    streams = ("reward", "cost")
    if augmented_state:
        streams += ("augmented_cost",)
    if fault_predictor is not None:
        streams += ("shaping",)
    policy_network = make_policy(
        env.action_space(env_params), algo.hidden_sizes, algo.initial_log_std
    )
    return Frame(
        config=config,
        env=env,
        env_params=env_params,
        policy_network=policy_network,
        critics=Critics(
            algo.hidden_sizes,
            algo.critic_learning_rate,
            algo.max_grad_norm,
            normalize_targets=algo.critic_normalization == "popart",
            statistics_rate=algo.critic_statistics_rate,
        ),
        policy_update=make_policy_update(policy_network),
        streams=streams,
        fault_predictor=fault_predictor,
        exceedance_threshold=exceedance_threshold,
        observation_shape=env.observation_space(env_params).shape,
        counter_names=rollout.episode_counter_names(env, env_params),
    )


# ---------------------------------------------------------------------------------------------
# The phases
# ---------------------------------------------------------------------------------------------


def policy(frame: Frame, state: OnPolicyState) -> Policy:
    """π of ``state``: the policy network on normalised observations."""
    normalizer = state.normalizer if frame.algo.normalize_observations else None
    return network_policy(frame.policy_network, state.policy_params, normalizer)


def init(frame: Frame, key: jax.Array, hyperparams: Hyperparams) -> OnPolicyState:
    """The state before the first update."""
    algo = frame.algo
    key_policy, key_critics, key_env, key = jax.random.split(key, 4)
    shaped = frame.fault_predictor is not None
    if shaped:
        key, key_predictor = jax.random.split(key)
    dummy = jnp.zeros(frame.observation_shape, jnp.float32)
    initial_length = float(jax.device_get(frame.env_params.max_steps_in_episode))
    policy_params = frame.policy_network.init(key_policy, dummy)
    return OnPolicyState(
        policy_params=policy_params,
        critics=frame.critics.init(key_critics, frame.num_streams, dummy),
        normalizer=normalization.init(frame.observation_shape),
        runner=rollout.reset(
            frame.env, frame.env_params, key_env, algo.num_envs, frame.counter_names
        ),
        learner=frame.policy_update.init(policy_params, hyperparams),
        fault_predictor=frame.fault_predictor.init(key_predictor, dummy) if shaped else (),
        moments=jnp.array([0.0, 0.0, initial_length], jnp.float32),
        hyperparams=hyperparams,
        key=key,
        update_step=jnp.int32(0),
    )


def collect(frame: Frame, state: OnPolicyState) -> tuple[OnPolicyState, Rollout]:
    """Phase 1: a batch with π_k; advances the environments and the key."""
    algo = frame.algo
    key, key_rollout = jax.random.split(state.key)
    runner, trajectory, records = rollout.collect(
        frame.env,
        frame.env_params,
        policy(frame, state),
        state.runner,
        key_rollout,
        algo.num_steps,
        algo.discount,
        algo.cost_discount,
    )
    return state._replace(runner=runner, key=key), Rollout(trajectory, records)


def _normalize(frame: Frame, state: OnPolicyState, observation: jax.Array) -> jax.Array:
    if not frame.algo.normalize_observations:
        return observation
    return normalization.normalize(state.normalizer, observation)


def prepare(frame: Frame, state: OnPolicyState, batch: Rollout) -> Prepared:
    """Phase 2: every stream's values and GAE, the episode-level estimates."""
    algo = frame.algo
    trajectory, records = batch
    hyperparams = state.hyperparams
    augmented = "augmented_cost" in frame.streams
    shaped = "shaping" in frame.streams
    observation = _normalize(frame, state, trajectory.observation)
    next_observation = _normalize(frame, state, trajectory.next_observation)
    values = frame.critics.values(state.critics, observation)  # [K, T, N]
    next_values = frame.critics.values(state.critics, next_observation)
    signals = {"reward": trajectory.reward, "cost": trajectory.cost}
    if augmented:
        signals["augmented_cost"] = augmented_cost(
            trajectory.cost,
            trajectory.cost_so_far,
            trajectory.cost_discount,
            hyperparams["alpha"],
            hyperparams["cost_limit"],
        )
    if shaped:
        fault_probability = frame.fault_predictor.probability(state.fault_predictor, observation)
        signals["shaping"] = hyperparams["cost_shaping_coefficient"] * fault_probability
    discounts = jnp.array(
        [algo.discount if name == "reward" else algo.cost_discount for name in frame.streams]
    )
    lambdas = jnp.array(
        [algo.gae_lambda if name == "reward" else algo.cost_gae_lambda for name in frame.streams]
    )
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
    streams = jnp.stack([signals[name] for name in frame.streams])
    advantages = gae(streams, values, next_values, discounts, lambdas)

    episode = episode_statistics.summarize(records, frame.exceedance_threshold)
    estimates = moment_estimates(
        trajectory,
        records,
        values[COST],
        next_values[COST],
        values[AUGMENTED_COST] if augmented else None,
        next_values[AUGMENTED_COST] if augmented else None,
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
        # C⁺ = C + α P_φ: the policy update sees one cost stream, E[C⁺] = μ̂ + α P̄ L̄.
        shaping = frame.streams.index("shaping")
        margin = shaping_margin(
            fault_probability, hyperparams["cost_shaping_coefficient"], episode_length
        )
        mean_cost = mean_cost + margin
        metrics = {
            "cost_shaping/margin": margin,
            "cost_shaping/fault_probability": fault_probability.mean(),
        }
        constrained_advantages = advantages.at[COST].add(advantages[shaping])[:shaping]
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


def policy_update(
    frame: Frame, state: OnPolicyState, prepared: Prepared
) -> tuple[OnPolicyState, dict[str, jax.Array]]:
    """Phase 3: the algorithm's :class:`PolicyUpdate` on the prepared batch."""
    learner, policy_params, metrics = frame.policy_update.step(
        state.learner, state.policy_params, prepared, state.hyperparams
    )
    state = state._replace(policy_params=policy_params, learner=learner, moments=prepared.moments)
    return state, metrics


def fit_critics(
    frame: Frame, state: OnPolicyState, prepared: Prepared
) -> tuple[OnPolicyState, dict[str, jax.Array]]:
    """Phase 4: every critic on its λ-returns; with cost shaping, the fault predictor."""
    algo = frame.algo
    key, key_critics = jax.random.split(state.key)
    targets = (prepared.advantages + prepared.values).reshape(frame.num_streams, frame.batch_size)
    observation = prepared.observation.reshape(frame.batch_size, *frame.observation_shape)
    critic_state, losses = frame.critics.fit(
        state.critics, observation, targets, key_critics, algo.num_epochs, algo.num_minibatches
    )
    state = state._replace(critics=critic_state, key=key)
    metrics = {"loss/value": losses[REWARD], "loss/cost_value": losses[COST]}
    if "augmented_cost" in frame.streams:
        metrics["loss/augmented_cost_value"] = losses[AUGMENTED_COST]
    if "shaping" in frame.streams:
        trajectory = prepared.batch.trajectory
        predictor_state, predictor_metrics = frame.fault_predictor.fit_on_rollout(
            state.fault_predictor,
            prepared.observation,
            trajectory.cost,
            trajectory.terminated | trajectory.truncated,
            algo.cost_shaping.horizon,
        )
        state = state._replace(fault_predictor=predictor_state)
        metrics |= {
            "loss/shaping_value": losses[frame.streams.index("shaping")],
            **predictor_metrics,
        }
    return state, metrics


def update(frame: Frame, state: OnPolicyState) -> tuple[OnPolicyState, dict[str, jax.Array]]:
    """One update: the four phases, then the normaliser and the update counter."""
    state, batch = collect(frame, state)
    prepared = prepare(frame, state, batch)
    state, policy_metrics = policy_update(frame, state, prepared)
    state, critic_metrics = fit_critics(frame, state, prepared)
    # The normaliser learns from this batch only after it has been used.
    observation = batch.trajectory.observation.reshape(frame.batch_size, *frame.observation_shape)
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
    if "augmented_cost" in frame.streams:
        metrics["constraint/augmented_return"] = prepared.moments[1]
        metrics["constraint/augmented_return_critic"] = estimates["critic"][1]
    return state, metrics


def algorithm(frame: Frame) -> Algorithm:
    """The frame as an :class:`Algorithm`."""
    hyperparams = dict(frame.policy_update.hyperparams)
    if frame.fault_predictor is not None:
        hyperparams["cost_shaping_coefficient"] = jnp.float32(frame.algo.cost_shaping.coefficient)
    return Algorithm(
        init=lambda key, hyperparams: init(frame, key, hyperparams),
        update=lambda state: update(frame, state),
        policy=lambda state: policy(frame, state),
        hyperparams=hyperparams,
        steps_per_update=frame.batch_size,
        env=frame.env,
        env_params=frame.env_params,
        exceedance_threshold=frame.exceedance_threshold,
    )


# ---------------------------------------------------------------------------------------------
# Episode-level moments
# ---------------------------------------------------------------------------------------------


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
