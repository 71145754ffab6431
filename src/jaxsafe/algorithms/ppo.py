"""Proximal Policy Optimization and the machinery its constrained variants share.

Schulman et al., "Proximal Policy Optimization Algorithms" (arXiv 1707.06347), eq. (7): maximise

    L^CLIP(θ) = E_t[ min(ρ_t Â_t, clip(ρ_t, 1 − ε, 1 + ε) Â_t) ],  ρ_t = π_θ(a_t|s_t) / π_k(a_t|s_t)

for several epochs of minibatches of one on-policy batch, plus an entropy bonus, while the
reward critic V and the cost critic V_C regress onto their λ-returns. Advantages come from GAE
over the reward and cost streams (terminated ≠ truncated, ALGORITHMS.md §0.1); reward
advantages are standardised, cost advantages only centred (§0.1).

The constrained variants differ only in how they turn (Â, Â^C) and the batch's episode costs
into the advantage the clipped surrogate maximises. That is a :class:`Penalty`:
``ppo`` uses none, ``ppo_lag`` a Lagrange multiplier (:mod:`jaxsafe.algorithms.ppo_lag`) and
``cvar_ppo`` a CVaR penalty (:mod:`jaxsafe.algorithms.cvar_ppo`).

With ``cost_shaping.horizon > 0`` (``ppo_lag``, :mod:`jaxsafe.cost_shaping`) the cost is the shaped
C⁺ = C + α P_φ(s → U) of CPO §6.3: the bonus α P_φ has its own critic, ``Batch.cost_advantages``
is the sum of both streams' and ``Batch.cost_margin`` the estimate α P̄ L̄ of E[C⁺] − E[C].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxsafe import cost_shaping, episode_statistics, normalization, rollout
from jaxsafe.advantages import gae_over_environments, standardize
from jaxsafe.algorithms import on_policy
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.cost_shaping import FaultPredictorState, shaping_margin
from jaxsafe.networks import ValueNetwork, make_policy
from jaxsafe.permutation import permutation
from jaxsafe.policy import Policy, network_policy


def default_config() -> ml_collections.ConfigDict:
    """PPO hyper-parameters (CleanRL/PureJaxRL defaults for continuous control)."""
    return ml_collections.ConfigDict(
        {
            "num_envs": 64,  # parallel environments
            "num_steps": 128,  # rollout length per update; batch = num_envs × num_steps
            "num_epochs": 10,
            "num_minibatches": 8,
            "policy_learning_rate": 3e-4,  # Adam step of the actor
            "critic_learning_rate": 3e-4,  # Adam step of the critics (one optimiser, one clip)
            "anneal_lr": False,  # linear decay of both to 0 over training
            "max_grad_norm": 0.5,
            "discount": 0.99,
            "gae_lambda": 0.95,
            "cost_discount": 0.99,
            "cost_gae_lambda": 0.95,
            "clip_epsilon": 0.2,
            "entropy_coef": 0.0,
            "value_coef": 0.5,
            "clip_value": False,  # PPO2-style value clipping at clip_epsilon
            "hidden_sizes": (64, 64),
            "initial_log_std": -0.5,
            "normalize_observations": True,
        }
    )


steps_per_update = on_policy.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """PPO's checks; ``check(ok, field, value, message)`` raises on ``not ok``."""
    on_policy.validate_batch(algo, check)
    for field in ("policy_learning_rate", "critic_learning_rate", "clip_epsilon", "max_grad_norm"):
        check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")
    for field in ("entropy_coef", "value_coef"):
        check(algo[field] >= 0.0, f"algo.{field}", algo[field], "must be >= 0")


class Batch(NamedTuple):
    """What a penalty sees of one batch, ``[T, N]`` unless noted."""

    trajectory: rollout.Trajectory
    advantages: jax.Array  # Â, raw GAE of the reward
    cost_advantages: jax.Array  # Â^C, raw GAE of the cost (with shaping, of C⁺)
    cost_values: jax.Array  # V_C(s_t)
    records: episode_statistics.EpisodeRecord  # the episodes that ended in the batch
    episode: dict[str, jax.Array]  # their means, see episode_statistics.summarize
    cost_margin: jax.Array  # E[C⁺] − E[C] = α P̄ L̄ with cost shaping, else 0


class Penalty(NamedTuple):
    """How a constrained PPO variant shapes the policy's advantage.

    ``shape(state, hyperparams, batch) -> (state, advantage [T, N], metrics)`` returns the
    advantage the clipped surrogate maximises.
    """

    init: Callable[[Hyperparams], Any]
    shape: Callable[[Any, Hyperparams, Batch], tuple[Any, jax.Array, dict[str, jax.Array]]]
    hyperparams: Hyperparams


def no_penalty() -> Penalty:
    """Plain PPO: the standardised reward advantage."""
    return Penalty(
        init=lambda hyperparams: (),
        shape=lambda state, hyperparams, batch: (state, standardize(batch.advantages), {}),
        hyperparams={},
    )


class PPOState(NamedTuple):
    """Everything PPO and its variants carry from one update to the next."""

    params: dict[str, Any]  # {"policy", "value", "cost_value"} flax parameters
    opt_state: optax.OptState
    normalizer: normalization.RunningMeanStd
    runner: rollout.RunnerState
    penalty: Any  # the penalty's own state (multiplier, CVaR threshold, ...)
    fault_predictor: FaultPredictorState | tuple  # () without cost shaping
    hyperparams: Hyperparams
    key: jax.Array
    update_step: jax.Array  # int32, updates done so far


def make(
    config: ml_collections.ConfigDict,
    env,
    env_params,
    penalty: Penalty | None = None,
    exceedance_threshold: float | None = None,
) -> Algorithm:
    """PPO (or a constrained variant, given its ``penalty``) on ``env``.

    Args:
        config: the run's config; reads ``config.algo`` (see :func:`default_config`) and
            ``config.total_timesteps``.
        env, env_params: a gymnax environment with cost in ``info["cost"]``.
        penalty: the advantage shaping of a constrained variant; ``None`` for plain PPO.
        exceedance_threshold: d of the logged ``episode/cost_exceedance``; by default the
            config's ``log.cost_threshold``.
    """
    if exceedance_threshold is None:
        exceedance_threshold = config.log.get("cost_threshold")
    algo = config.algo
    penalty = penalty or no_penalty()
    num_envs, num_steps = algo.num_envs, algo.num_steps
    batch_size = num_envs * num_steps
    minibatch_size = batch_size // algo.num_minibatches
    num_updates = config.total_timesteps // batch_size
    observation_shape = env.observation_space(env_params).shape
    counter_names = rollout.episode_counter_names(env, env_params)

    policy_net = make_policy(env.action_space(env_params), algo.hidden_sizes, algo.initial_log_std)
    value_net = ValueNetwork(tuple(algo.hidden_sizes))
    fault_predictor = cost_shaping.from_config(algo)
    shaped = fault_predictor is not None
    critic_names = ("value", "cost_value", "shaping_value") if shaped else ("value", "cost_value")

    def learning_rate(initial: float):
        if not algo.anneal_lr:
            return initial
        return optax.linear_schedule(
            initial, 0.0, num_updates * algo.num_epochs * algo.num_minibatches
        )

    # One Adam over actor and critics with one global-norm clip (the PPO implementations'),
    # each group with its own step size.
    optimizer = optax.chain(
        optax.clip_by_global_norm(algo.max_grad_norm),
        optax.scale_by_adam(eps=1e-5),
        optax.multi_transform(
            {
                "policy": optax.scale_by_learning_rate(learning_rate(algo.policy_learning_rate)),
                "critic": optax.scale_by_learning_rate(learning_rate(algo.critic_learning_rate)),
            },
            lambda params: {name: "policy" if name == "policy" else "critic" for name in params},
        ),
    )
    hyperparams = {
        "entropy_coef": jnp.float32(algo.entropy_coef),
        "clip_epsilon": jnp.float32(algo.clip_epsilon),
        **penalty.hyperparams,
    }
    if shaped:
        hyperparams["cost_shaping_coefficient"] = jnp.float32(algo.cost_shaping.coefficient)

    def normalize(normalizer, observation):
        if not algo.normalize_observations:
            return observation
        return normalization.normalize(normalizer, observation)

    def init(key: jax.Array, hyperparams: Hyperparams) -> PPOState:
        key_policy, key_value, key_cost, key_env, key = jax.random.split(key, 5)
        dummy = jnp.zeros(observation_shape, jnp.float32)
        params = {
            "policy": policy_net.init(key_policy, dummy),
            "value": value_net.init(key_value, dummy),
            "cost_value": value_net.init(key_cost, dummy),
        }
        if shaped:
            key, key_shaping, key_predictor = jax.random.split(key, 3)
            params["shaping_value"] = value_net.init(key_shaping, dummy)
        return PPOState(
            params=params,
            opt_state=optimizer.init(params),
            normalizer=normalization.init(observation_shape),
            runner=rollout.reset(env, env_params, key_env, num_envs, counter_names),
            penalty=penalty.init(hyperparams),
            fault_predictor=fault_predictor.init(key_predictor, dummy) if shaped else (),
            hyperparams=hyperparams,
            key=key,
            update_step=jnp.int32(0),
        )

    def policy(state: PPOState) -> Policy:
        normalizer = state.normalizer if algo.normalize_observations else None
        return network_policy(policy_net, state.params["policy"], normalizer)

    def update(state: PPOState) -> tuple[PPOState, dict[str, jax.Array]]:
        key, key_rollout, key_epochs = jax.random.split(state.key, 3)

        # 1. Collect a batch with π_k.
        runner, trajectory, records = rollout.collect(
            env,
            env_params,
            policy(state),
            state.runner,
            key_rollout,
            num_steps,
            algo.discount,
            algo.cost_discount,
        )

        # 2. Critics' values at s_t and at the true next states s'_t, then GAE per stream.
        observation = normalize(state.normalizer, trajectory.observation)
        next_observation = normalize(state.normalizer, trajectory.next_observation)
        values = value_net.apply(state.params["value"], observation)
        next_values = value_net.apply(state.params["value"], next_observation)
        cost_values = value_net.apply(state.params["cost_value"], observation)
        next_cost_values = value_net.apply(state.params["cost_value"], next_observation)
        advantages = gae_over_environments(
            trajectory.reward,
            values,
            next_values,
            trajectory.terminated,
            trajectory.truncated,
            algo.discount,
            algo.gae_lambda,
        )
        cost_advantages = gae_over_environments(
            trajectory.cost,
            cost_values,
            next_cost_values,
            trajectory.terminated,
            trajectory.truncated,
            algo.cost_discount,
            algo.cost_gae_lambda,
        )
        episode = episode_statistics.summarize(records, exceedance_threshold)
        targets = {"value": advantages + values, "cost_value": cost_advantages + cost_values}
        values_at_samples = {"value": values, "cost_value": cost_values}
        cost_margin, shaping_metrics = jnp.float32(0.0), {}
        fault_predictor_state = state.fault_predictor
        if shaped:
            # C⁺ = C + α P_φ(s → U): the bonus's own critic and GAE; then the predictor's fit.
            coefficient = state.hyperparams["cost_shaping_coefficient"]
            fault_probability = fault_predictor.probability(state.fault_predictor, observation)
            shaping_values = value_net.apply(state.params["shaping_value"], observation)
            shaping_advantages = gae_over_environments(
                coefficient * fault_probability,
                shaping_values,
                value_net.apply(state.params["shaping_value"], next_observation),
                trajectory.terminated,
                trajectory.truncated,
                algo.cost_discount,
                algo.cost_gae_lambda,
            )
            targets["shaping_value"] = shaping_advantages + shaping_values
            values_at_samples["shaping_value"] = shaping_values
            cost_advantages = cost_advantages + shaping_advantages
            cost_margin = shaping_margin(fault_probability, coefficient, episode["episode/length"])
            fault_predictor_state, predictor_metrics = fault_predictor.fit_on_rollout(
                state.fault_predictor,
                observation,
                trajectory.cost,
                trajectory.terminated | trajectory.truncated,
                algo.cost_shaping.horizon,
            )
            shaping_metrics = {
                **predictor_metrics,
                "cost_shaping/margin": cost_margin,
                "cost_shaping/fault_probability": fault_probability.mean(),
            }

        # 3. The variant's advantage for the policy (and its multiplier update).
        batch = Batch(
            trajectory, advantages, cost_advantages, cost_values, records, episode, cost_margin
        )
        penalty_state, policy_advantages, penalty_metrics = penalty.shape(
            state.penalty, state.hyperparams, batch
        )

        # 4. Epochs of minibatch steps on the clipped surrogate and the critics.
        samples = {
            "observation": observation,
            "action": trajectory.action,
            "log_prob": trajectory.log_prob,
            "advantage": policy_advantages,
            **values_at_samples,
            **{f"{name}_target": target for name, target in targets.items()},
        }
        samples = jax.tree.map(lambda x: x.reshape(batch_size, *x.shape[2:]), samples)

        def minibatch_step(carry, minibatch):
            params, opt_state = carry
            grads, losses = jax.grad(loss, has_aux=True)(params, minibatch, state.hyperparams)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), losses

        def epoch(carry, key):
            order = permutation(key, batch_size)
            minibatches = jax.tree.map(
                lambda x: x[order].reshape(algo.num_minibatches, minibatch_size, *x.shape[1:]),
                samples,
            )
            return jax.lax.scan(minibatch_step, carry, minibatches)

        (params, opt_state), losses = jax.lax.scan(
            epoch,
            (state.params, state.opt_state),
            jax.random.split(key_epochs, algo.num_epochs),
        )

        # 5. The normaliser learns from this batch only after it has been used.
        normalizer = normalization.update(
            state.normalizer, trajectory.observation.reshape(batch_size, *observation_shape)
        )
        state = PPOState(
            params=params,
            opt_state=opt_state,
            normalizer=normalizer,
            runner=runner,
            penalty=penalty_state,
            fault_predictor=fault_predictor_state,
            hyperparams=state.hyperparams,
            key=key,
            update_step=state.update_step + 1,
        )
        metrics = {
            **episode,
            **jax.tree.map(jnp.mean, losses),
            **penalty_metrics,
            **shaping_metrics,
            "batch/cost": trajectory.cost.mean(),
            "batch/cost_value": cost_values.mean(),
        }
        return state, metrics

    def loss(params, minibatch, hyperparams):
        distribution = policy_net.apply(params["policy"], minibatch["observation"])
        log_prob = distribution.log_prob(minibatch["action"])
        log_ratio = log_prob - minibatch["log_prob"]
        ratio = jnp.exp(log_ratio)
        epsilon = hyperparams["clip_epsilon"]
        advantage = minibatch["advantage"]
        surrogate = jnp.minimum(
            ratio * advantage, jnp.clip(ratio, 1.0 - epsilon, 1.0 + epsilon) * advantage
        )
        entropy = distribution.entropy().mean()
        policy_loss = -surrogate.mean() - hyperparams["entropy_coef"] * entropy

        def critic_loss(name):
            prediction = value_net.apply(params[name], minibatch["observation"])
            target = minibatch[f"{name}_target"]
            squared = jnp.square(prediction - target)
            if algo.clip_value:
                old = minibatch[name]
                clipped = old + jnp.clip(prediction - old, -epsilon, epsilon)
                squared = jnp.maximum(squared, jnp.square(clipped - target))
            return 0.5 * squared.mean()

        critic_losses = {f"loss/{name}": critic_loss(name) for name in critic_names}
        total = policy_loss + algo.value_coef * sum(critic_losses.values())
        return total, {
            "loss/policy": policy_loss,
            **critic_losses,
            "policy/entropy": entropy,
            "policy/approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
            "policy/clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > epsilon),
        }

    return Algorithm(
        init=init,
        update=update,
        policy=policy,
        hyperparams=hyperparams,
        steps_per_update=batch_size,
        env=env,
        env_params=env_params,
        exceedance_threshold=exceedance_threshold,
    )
