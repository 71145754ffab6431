"""CSC: Conservative Safety Critics for exploration.

Bharadhwaj, Kumar, Rhinehart, Levine, Shkurti & Garg, "Conservative Safety Critics for
Exploration" (ICLR 2021), Algorithm 1; ALGORITHMS.md §C. The constraint is on a *binary*,
terminating failure c ∈ {0, 1}: V_C^π(μ) ≤ χ (eq. 1), χ = ``cost_limit``. On the on-policy frame
(:mod:`jaxsafe.algorithms.on_policy`), one update (an "epoch" of Algorithm 1) is

1. **act by rejection sampling** (§C.6, :func:`rejection_policy`): per step, K candidates
   a_k ~ π_φ(·|s) in one batch; execute the first with Q̂_C(s, a_k) ≤ ε, where
   ε = (1 − γ)(χ − V̂_C) and V̂_C is the previous update's average episodic failures, else the
   arg-min over k. The executed action's log π_φ is stored (the rejection bias is ignored, as in
   the paper); the policy's extras record the rejections and whether the fallback fired;
2. the frame's GAE for the reward (terminated ≠ truncated, §0.1);
3. **policy step** (§C.3–C.4, :func:`csc_policy_update`): the combined advantage
   A′ = Â_R − λ′ Â_C, λ′ = λ/(1 − γ), Â_R standardised and
   Â_C(s, a) = Q̂_C(s, a) − E_{a′~π_old} Q̂_C(s, a′) (M samples) from the safety critic; the
   natural-gradient step φ_old + β_j √(2δ / gᵀF⁻¹g) F⁻¹g (eq. 6–8) with F⁻¹g by conjugate
   gradient on Fisher-vector products, β_{j+1} = β_j (1 − β_j)^{j+1}, only KL ≤ δ tested, no
   update when all L tries fail;
4. **multiplier** (§C.5, eq. 9, :func:`multiplier_step`) with Δ = V̂_C − χ and
   Ê[Â_C] = E_{s~batch}[E_{π_new} Q̂_C − E_{π_old} Q̂_C];
5. the frame's reward (and cost) value critics on their λ-returns;
6. **conservative safety critic** (§C.2, :func:`fit_safety_critic`): the batch enters the replay
   ring (:mod:`jaxsafe.replay`), then gradient steps on minibatches drawn from it of

       α (E_𝒟[Q_C(s, a)] − E_{s~𝒟, a~π}[Q_C(s, a)]) + ½ E_𝒟[(Q_C(s, a) − ℬ^π Q̄_C(s, a))²],
       ℬ^π Q̄_C(s, a) = c + γ (1 − terminated) E_{a′~π(·|s′)} Q̄_C(s′, a′),

   CQL's eq. 2 with the sign of α *reversed*, so that Q̂_C over-estimates the failure
   probability under π (the reimplementation R1 uses the standard sign, which under-estimates:
   not copied). The backup is cut at termination and kept at truncation (s′ is the true,
   pre-reset next state). Q̄_C is a target network (Polyak or periodic copy).

**[OUR CHOICE]** where the paper is silent or ambiguous, each a switch:

- the order of Algorithm 1's inner steps (policy, Q_C, λ): λ is stepped right after the policy
  step, with the Q̂_C that step used, so that Ê[Â_C] judges the step it came from; Q_C is
  fitted after the policy step, for the new π (its backup and its CQL term sample π_new);
- ``multiplier_update``: ``"projected"`` (default) is projected dual descent on the stated
  Lagrangian, λ ← clip(λ + η(Δ + Ê[Â_C]/(1 − γ)), 0, λ_max); ``"paper_literal"`` is eq. 9 as
  both reimplementations transcribe it, λ ← clip(λ − η(…), 0, λ_max), which *lowers* λ when the
  constraint is violated (ALGORITHMS.md §C.5);
- V̂_C is the mean undiscounted cost of the batch's finished episodes (with a binary,
  terminating failure: the fraction that failed), kept from the last batch that finished one;
- Q_C(s, a) = sigmoid(f(s, a)) ∈ [0, 1] (a failure probability; the targets lie in [0, 1] for
  binary c), on the normalised observation and the action (clipped to the box, or one-hot);
- γ of Q_C, ε and λ′ is ``cost_discount``;
- ``eval_rejection_sampling``: the public policy of a state (evaluation, ``load_policy``) acts
  by rejection sampling too (default), or plainly by π_φ;
- ``safety_critic_initial_value`` q₀ (default 1e-4): Q̂_C ≈ q₀ at initialisation (a constant
  logit offset, the same as initialising the output bias at logit(q₀)). Why it matters: ε and
  Q_C are in the same units. Q_C and V_C are discounted failure probabilities, and Lemma 1 needs
  Q̂_C(s, a) ≤ ε ⇒ Â_C(s, a)/(1 − γ) ≤ χ − V̂_C, which holds because Â_C(s, a) = Q̂_C(s, a) −
  E_π Q̂_C(s, ·) ≤ Q̂_C(s, a) (App. A.1). So the shield accepts an action only if Q̂_C is below
  (1 − γ)χ, e.g. 5e-4 at χ = 0.05 and γ = 0.99: a tiny number, and the paper's. A critic that
  starts at sigmoid(0) = ½ (q₀ = 0.5, this module's first version) rejects every candidate until
  TD has shrunk that start by γ per backup: ½ γⁿ ≤ 5e-4 needs n ≥ 688 full backups. While the
  shield is closed, the data are the fallback's arg-min actions, not π's, so the reversed CQL
  term pushes Q̂_C up on π's actions and keeps the shield closed. On PointTrap-v1 the fallback
  then fired in 99.94% of training steps and the policy never reached the goal
  (docs/results.md). The paper says nothing on initialisation. R1's Q_C has a linear output with
  zero bias (Q ≈ 0 at init), regressed on the batch's cost returns, so its shield starts open.
  q₀ = 1e-4 keeps [0, 1] and starts Q̂_C below ε (a (64, 64) critic on normal inputs: 5–95% of
  its values in 3.4e-5–2.9e-4, 99.7% ≤ 5e-4), i.e. "no failure known yet": the shield then
  rejects only what the data have taught Q̂_C to fear. At χ < ~0.03 (γ = 0.99) it starts partly
  closed; at χ = 0, or whenever V̂_C > χ, ε ≤ 0 rejects every candidate by construction (§C.6);
- ``replay_prefill_steps`` pre-seeds the ring at init with transitions of a uniformly random
  policy (App. A.10 seeds 1,000 tuples); they count neither as training steps nor as failures.

Failures during training are the headline metric: ``failures/cumulative`` counts every failure
(Σ c over the training batches) since the start of training and is part of the checkpointed
state. Q_C sees a continuous action clipped to the action box, a discrete one one-hot.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from gymnax.environments import spaces

from jaxsafe import normalization, replay, rollout
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import on_policy
from jaxsafe.algorithms.base import Algorithm, Hyperparams
from jaxsafe.algorithms.cpo_update import ACCEPTANCE_RULES, Tests
from jaxsafe.algorithms.on_policy import Frame, OnPolicyState, Rollout
from jaxsafe.networks import MLP, VALUE_OUTPUT_SCALE
from jaxsafe.policy import Policy, no_carry
from jaxsafe.solvers import (
    backtracking_line_search,
    conjugate_gradient,
    decaying_fractions,
    fisher_vector_product,
)
from jaxsafe.solvers.conjugate_gradient import Pytree, tree_vdot

MULTIPLIER_UPDATES = ("projected", "paper_literal")
TARGET_UPDATES = ("polyak", "copy")


def default_config() -> ml_collections.ConfigDict:
    """The frame's fields and CSC's (ALGORITHMS.md §C.10: the reimplementations' values)."""
    config = on_policy.default_config()
    config.cost_limit = 0.1  # χ, on the average episodic failures (eq. 1)
    # Policy step (§C.4)
    config.max_kl = 0.01  # δ
    config.cg_iterations = 10
    config.cg_damping = 0.1
    config.backtrack_init = 0.7  # β_0
    config.backtrack_steps = 20  # L tries
    # Multiplier (§C.5)
    config.multiplier_update = "projected"  # "projected" | "paper_literal"
    config.lagrange_init = 1.0  # λ_0
    config.lagrange_learning_rate = 0.04  # η_λ
    config.lagrange_max = 100.0  # λ_max
    # Conservative safety critic (§C.2)
    config.cql_alpha = 0.5  # α of the reversed CQL term
    config.safety_critic_learning_rate = 2e-4
    config.safety_critic_initial_value = 1e-4  # q₀: Q_C ≈ q₀ at init (output bias logit(q₀))
    config.safety_critic_steps = 32  # Adam steps per update
    config.safety_critic_batch_size = 256  # transitions per step, from the ring
    config.policy_action_samples = 10  # M: a ~ π per state for E_π Q_C (CQL term, backup, Â_C)
    config.target_update = "polyak"  # "polyak" | "copy"
    config.target_polyak = 0.005  # τ of Q̄ ← (1 − τ) Q̄ + τ Q
    config.target_copy_period = 100  # safety-critic steps between copies (target_update="copy")
    # Replay ring (§C.7)
    config.replay_capacity = 100_000  # transitions
    config.replay_prefill_steps = 0  # random-policy transitions inserted at init (0: none)
    # Acting (§C.6)
    config.rejection_candidates = 100  # K
    config.eval_rejection_sampling = True  # the public policy rejects too (else plain π_φ)
    return config


steps_per_update = on_policy.steps_per_update


def validate(algo: ml_collections.ConfigDict, check: Callable[..., None]) -> None:
    """CSC's checks (after the frame's); ``check(ok, field, value, message)``."""
    on_policy.validate(algo, check)
    check(0.0 <= algo.cost_limit <= 1.0, "algo.cost_limit", algo.cost_limit, "χ must lie in [0, 1]")
    check(algo.cost_discount < 1.0, "algo.cost_discount", algo.cost_discount, "must be < 1")
    for field in (
        "max_kl",
        "lagrange_learning_rate",
        "lagrange_max",
        "safety_critic_learning_rate",
    ):
        check(algo[field] > 0.0, f"algo.{field}", algo[field], "must be positive")
    for field in ("cg_damping", "cql_alpha", "lagrange_init", "replay_prefill_steps"):
        check(algo[field] >= 0.0, f"algo.{field}", algo[field], "must be >= 0")
    check(
        algo.lagrange_init <= algo.lagrange_max,
        "algo.lagrange_init",
        algo.lagrange_init,
        f"must not exceed algo.lagrange_max = {algo.lagrange_max}",
    )
    for field in (
        "cg_iterations",
        "backtrack_steps",
        "safety_critic_steps",
        "safety_critic_batch_size",
        "policy_action_samples",
        "target_copy_period",
        "rejection_candidates",
    ):
        check(algo[field] >= 1, f"algo.{field}", algo[field], "must be at least 1")
    check(
        0.0 < algo.safety_critic_initial_value < 1.0,
        "algo.safety_critic_initial_value",
        algo.safety_critic_initial_value,
        "must lie in (0, 1) (the sigmoid's range)",
    )
    check(
        0.0 < algo.backtrack_init < 1.0,
        "algo.backtrack_init",
        algo.backtrack_init,
        "must lie in (0, 1)",
    )
    check(
        0.0 < algo.target_polyak <= 1.0,
        "algo.target_polyak",
        algo.target_polyak,
        "must lie in (0, 1]",
    )
    for field, valid in (
        ("multiplier_update", MULTIPLIER_UPDATES),
        ("target_update", TARGET_UPDATES),
    ):
        check(algo[field] in valid, f"algo.{field}", algo[field], f"valid: {list(valid)}")
    batch = algo.num_envs * algo.num_steps
    check(
        algo.replay_capacity >= max(batch, algo.replay_prefill_steps),
        "algo.replay_capacity",
        algo.replay_capacity,
        f"must hold a batch (num_envs × num_steps = {batch}) and the prefill "
        f"({algo.replay_prefill_steps})",
    )


# ---------------------------------------------------------------------------------------------
# The safety critic Q_C(s, a) (§C.2)
# ---------------------------------------------------------------------------------------------


class SafetyCritic(nn.Module):
    """Q_C(s, a) = sigmoid(f(s, a) + logit(q₀)) ∈ [0, 1]: ``[..., D]``, ``[..., A]`` to ``[...]``.

    f's output bias starts at 0, so at initialisation Q_C ≈ q₀ = ``initial_value`` (spread by
    f's initial weights: about q₀ e^{±1} for small q₀); the offset is a constant, so it is the
    same as initialising the output bias at logit(q₀).
    """

    hidden_sizes: tuple[int, ...]
    initial_value: float = 0.5

    @nn.compact
    def __call__(self, observation: jax.Array, action: jax.Array) -> jax.Array:
        inputs = jnp.concatenate([observation, action], axis=-1)
        logit = MLP(self.hidden_sizes, 1, nn.tanh, VALUE_OUTPUT_SCALE)(inputs)
        offset = math.log(self.initial_value) - math.log1p(-self.initial_value)
        return jax.nn.sigmoid(jnp.squeeze(logit, axis=-1) + offset)


class SafetyCriticState(NamedTuple):
    params: Any
    target_params: Any  # Q̄_C
    opt_state: optax.OptState
    steps: jax.Array  # int32 gradient steps taken


def conservative_td_loss(
    q_data: jax.Array,
    q_policy: jax.Array,
    next_q_target: jax.Array,
    cost: jax.Array,
    terminated: jax.Array,
    alpha: jax.Array,
    discount: float | jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """CSC's critic objective on a minibatch of ``B`` transitions (§C.2; CQL eq. 2, sign reversed).

        α (mean Q_C(s, a) − mean E_{a~π} Q_C(s, a)) + ½ mean (Q_C(s, a) − y)²,
        y = c + γ (1 − terminated) E_{a′~π} Q̄_C(s′, a′)   (no gradient through y)

    Minimising it pushes Q_C *up* on π's actions and down on the data's, so E_π Q̂_C
    over-estimates the TD fixed point (standard CQL has the opposite sign and under-estimates).

    Args:
        q_data: ``[B]`` Q_C(s, a) on the stored actions.
        q_policy: ``[B]`` the estimate of E_{a~π(·|s)} Q_C(s, a) (differentiable).
        next_q_target: ``[B]`` the estimate of E_{a′~π(·|s′)} Q̄_C(s′, a′).
        cost, terminated: ``[B]``; truncation does not cut the backup.
        alpha: α ≥ 0; 0 is plain TD.
        discount: γ.

    Returns:
        The loss and its parts ``{"td", "q_data", "q_policy"}``.
    """
    target = cost + discount * (1.0 - terminated.astype(q_data.dtype)) * next_q_target
    target = jax.lax.stop_gradient(target)
    td = 0.5 * jnp.mean((q_data - target) ** 2)
    conservative = jnp.mean(q_data) - jnp.mean(q_policy)
    return alpha * conservative + td, {
        "td": td,
        "q_data": jnp.mean(q_data),
        "q_policy": jnp.mean(q_policy),
    }


def update_target(
    params: Pytree, target: Pytree, steps: jax.Array, mode: str, polyak: float, period: int
) -> Pytree:
    """Q̄ ← (1 − τ) Q̄ + τ Q (``"polyak"``), or Q̄ ← Q every ``period`` steps (``"copy"``)."""
    if mode == "polyak":
        return jax.tree.map(lambda q, t: (1.0 - polyak) * t + polyak * q, params, target)
    copy = steps % period == 0
    return jax.tree.map(lambda q, t: jnp.where(copy, q, t), params, target)


# ---------------------------------------------------------------------------------------------
# Acting by rejection sampling (§C.6)
# ---------------------------------------------------------------------------------------------


class Choice(NamedTuple):
    index: jax.Array  # [N] int32, the executed candidate
    rejections: jax.Array  # [N] int32, candidates rejected before it (K on fallback)
    fallback: jax.Array  # [N] bool, no candidate passed: the arg-min was taken


def rejection_choice(q: jax.Array, epsilon: jax.Array) -> Choice:
    """The first of the ``[K, N]`` candidates with Q_C ≤ ε, else the arg-min over K."""
    passing = q <= epsilon
    accepted = jnp.any(passing, axis=0)
    first = jnp.argmax(passing, axis=0)
    index = jnp.where(accepted, first, jnp.argmin(q, axis=0)).astype(jnp.int32)
    rejections = jnp.where(accepted, first, q.shape[0]).astype(jnp.int32)
    return Choice(index, rejections, ~accepted)


def rejection_threshold(
    cost_limit: jax.Array, failure_rate: jax.Array, discount: float | jax.Array
) -> jax.Array:
    """ε = (1 − γ)(χ − V̂_C): Q_C ≤ ε implies Â_C/(1 − γ) ≤ χ − V̂_C (Lemma 1); < 0 rejects all."""
    return (1.0 - discount) * (cost_limit - failure_rate)


def rejection_policy(
    network: nn.Module,
    params: Any,
    normalizer: normalization.RunningMeanStd | None,
    q_values: Callable[[Any, jax.Array, jax.Array], jax.Array],
    q_params: Any,
    epsilon: jax.Array,
    num_candidates: int,
) -> Policy:
    """π_φ filtered by Q̂_C: K candidates per step, the first safe one or the least unsafe.

    Extras: ``log_prob`` (log π_φ of the executed action), ``rejections`` (int32, candidates
    rejected before it, K when the fallback fired) and ``fallback`` (bool). Deterministic:
    candidate 0 is the mode of π_φ, the rest samples.
    """

    def step(carry: tuple, observation: jax.Array, key: jax.Array, deterministic: bool = False):
        if normalizer is not None:
            observation = normalization.normalize(normalizer, observation)
        distribution = network.apply(params, observation)
        candidates = distribution.sample(seed=key, sample_shape=num_candidates)  # [K, N, A]
        if deterministic:
            candidates = candidates.at[0].set(distribution.mode())
        observations = jnp.broadcast_to(observation, (num_candidates, *observation.shape))
        choice = rejection_choice(q_values(q_params, observations, candidates), epsilon)
        index = choice.index.reshape(1, -1, *(1,) * (candidates.ndim - 2))
        action = jnp.take_along_axis(candidates, index, axis=0)[0]
        extras = {
            "log_prob": distribution.log_prob(action),
            "rejections": choice.rejections,
            "fallback": choice.fallback,
        }
        return carry, action, extras

    return Policy(init_carry=no_carry, step=step)


# ---------------------------------------------------------------------------------------------
# The policy step (§C.3–C.4) and the multiplier (§C.5)
# ---------------------------------------------------------------------------------------------


class NaturalGradientInfo(NamedTuple):
    curvature: jax.Array  # gᵀF⁻¹g
    step_size: jax.Array  # √(2δ / gᵀF⁻¹g), 0 when gᵀF⁻¹g ≤ 0


def natural_gradient_step(
    gradient: Pytree,
    fisher_product: Callable[[Pytree], Pytree],
    max_kl: jax.Array,
    cg_iterations: int,
) -> tuple[Pytree, NaturalGradientInfo]:
    """The full step √(2δ / gᵀF⁻¹g) F⁻¹g of eq. 6–8, F⁻¹g by conjugate gradient.

    The step's quadratic KL model ½ xᵀFx equals δ. A non-positive gᵀF⁻¹g (a vanishing
    gradient) gives the zero step.
    """
    direction = conjugate_gradient(fisher_product, gradient, cg_iterations)
    curvature = tree_vdot(gradient, direction)
    positive = curvature > 0.0
    step_size = jnp.where(
        positive, jnp.sqrt(2.0 * max_kl / jnp.where(positive, curvature, 1.0)), 0.0
    )
    step = jax.tree.map(lambda x: step_size * x, direction)
    return step, NaturalGradientInfo(curvature, step_size)


def multiplier_step(
    multiplier: jax.Array,
    violation: jax.Array,
    surrogate_change: jax.Array,
    learning_rate: jax.Array | float,
    rule: str,
    max_multiplier: jax.Array | float,
) -> jax.Array:
    """One step of λ on the constraint estimate Δ + Ê[Â_C]/(1 − γ) (eq. 9, §C.5).

    ``"projected"``: λ ← clip(λ + η (Δ + Ê[Â_C]/(1 − γ)), 0, λ_max), dual descent on the
    Lagrangian of eq. 5 (λ grows while the constraint is violated).
    ``"paper_literal"``: λ ← clip(λ − η (Δ + Ê[Â_C]/(1 − γ)), 0, λ_max), as transcribed by
    both reimplementations.

    Args:
        multiplier: λ.
        violation: Δ = V̂_C − χ.
        surrogate_change: Ê[Â_C]/(1 − γ).
        learning_rate: η_λ.
        rule: a key of :data:`MULTIPLIER_UPDATES`.
        max_multiplier: λ_max.
    """
    estimate = violation + surrogate_change
    sign = {"projected": 1.0, "paper_literal": -1.0}[rule]
    return jnp.clip(multiplier + sign * learning_rate * estimate, 0.0, max_multiplier)


class CSCLearner(NamedTuple):
    """What CSC carries between updates (the frame's ``learner``)."""

    safety_critic: SafetyCriticState
    replay: replay.ReplayBuffer
    multiplier: jax.Array  # λ
    failure_rate: jax.Array  # V̂_C of the latest batch that finished an episode
    cumulative_failures: jax.Array  # Σ c over every training batch so far
    key: jax.Array  # for the action samples of Â_C and of the critic's steps


@dataclasses.dataclass(frozen=True, eq=False)
class CSC:
    """CSC's static pieces: the safety critic, its optimiser, the policy network."""

    algo: ml_collections.ConfigDict
    policy_network: nn.Module
    critic_network: SafetyCritic
    optimizer: optax.GradientTransformation
    action_space: spaces.Box | spaces.Discrete
    observation_shape: tuple[int, ...]

    def q_values(self, params: Any, observation: jax.Array, action: jax.Array) -> jax.Array:
        """Q_C(s, a) on normalised ``observation [..., D]`` and ``action [..., A]``."""
        return self.critic_network.apply(params, observation, self.encode(action))

    def encode(self, action: jax.Array) -> jax.Array:
        """A Box action clipped to the box; a Discrete one one-hot."""
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            return jax.nn.one_hot(action, space.n)
        return jnp.clip(action, jnp.asarray(space.low), jnp.asarray(space.high))

    def init_learner(self, key: jax.Array, hyperparams: Hyperparams) -> CSCLearner:
        """The learner before the first update (an empty ring)."""
        algo = self.algo
        key_critic, key = jax.random.split(key)
        observation = jnp.zeros(self.observation_shape, jnp.float32)
        space = self.action_space
        action = jnp.zeros(space.shape, space.dtype)
        params = self.critic_network.init(key_critic, observation, self.encode(action))
        example = replay.Transition(
            observation, action, observation, jnp.float32(0), jnp.float32(0), False, False
        )
        return CSCLearner(
            safety_critic=SafetyCriticState(
                params, params, self.optimizer.init(params), jnp.int32(0)
            ),
            replay=replay.init(algo.replay_capacity, example),
            multiplier=jnp.float32(algo.lagrange_init),
            failure_rate=jnp.float32(0.0),
            cumulative_failures=jnp.float32(0.0),
            key=key,
        )

    def expected_q(
        self, q_params: Any, distribution: Any, observation: jax.Array, key: jax.Array
    ) -> jax.Array:
        """``[B]`` (1/M) Σ_m Q_C(s, a_m), a_m ~ ``distribution`` (batch shape ``[B]``)."""
        samples = self.algo.policy_action_samples
        actions = distribution.sample(seed=key, sample_shape=samples)
        observations = jnp.broadcast_to(observation, (samples, *observation.shape))
        return self.q_values(q_params, observations, actions).mean(axis=0)


def csc_policy_update(csc: CSC) -> on_policy.PolicyUpdate:
    """CSC's natural-gradient step and multiplier step as a :class:`~on_policy.PolicyUpdate`."""
    algo = csc.algo
    network = csc.policy_network
    fractions = decaying_fractions(algo.backtrack_init, algo.backtrack_steps)
    accept = ACCEPTANCE_RULES["kl"]
    scale = 1.0 / (1.0 - algo.cost_discount)  # λ′ = λ/(1 − γ)
    batch_size = algo.num_envs * algo.num_steps
    flat = lambda x: x.reshape(batch_size, *x.shape[2:])  # noqa: E731

    def step(learner: CSCLearner, policy_params, prepared: on_policy.Prepared, hyperparams):
        batch = prepared.batch
        key, key_old, key_new = jax.random.split(learner.key, 3)
        observation = flat(prepared.observation)
        action = flat(batch.trajectory.action)
        old_log_prob = flat(batch.trajectory.log_prob)
        q_params = learner.safety_critic.params
        old_distribution = network.apply(policy_params, observation)

        # Â_C(s, a) = Q̂_C(s, a) − E_{a′~π_old} Q̂_C(s, a′) and A′ = Â_R − λ′ Â_C (§C.3).
        q_old = csc.expected_q(q_params, old_distribution, observation, key_old)
        cost_advantage = csc.q_values(q_params, observation, action) - q_old
        objective = (
            standardize(flat(batch.advantages[on_policy.REWARD]))
            - learner.multiplier * scale * cost_advantage
        )

        def surrogate(params):
            distribution = network.apply(params, observation)
            ratio = jnp.exp(distribution.log_prob(action) - old_log_prob)
            return jnp.mean(ratio * objective)

        def mean_kl(params):
            return jnp.mean(old_distribution.kl_divergence(network.apply(params, observation)))

        # The natural-gradient step and its backtracking, KL only (§C.4).
        surrogate_old, gradient = jax.value_and_grad(surrogate)(policy_params)
        fisher = fisher_vector_product(mean_kl, policy_params, algo.cg_damping)
        max_kl = hyperparams["max_kl"]
        full_step, info = natural_gradient_step(gradient, fisher, max_kl, algo.cg_iterations)

        def evaluate(params):
            kl = mean_kl(params)
            tests = Tests(kl, max_kl, surrogate(params) - surrogate_old, 0.0, 0.0, 0)
            return accept(tests), {"kl": kl, "improvement": tests.improvement}

        new_params, search = backtracking_line_search(policy_params, full_step, fractions, evaluate)
        kept = jax.tree.map(lambda m: jnp.where(search.accepted, m, 0.0), search.metrics)

        # The multiplier (§C.5): Δ = V̂_C − χ, Ê[Â_C] under π_new with the same Q̂_C.
        finished = batch.episode["episode/count"] > 0
        failure_rate = jnp.where(finished, batch.episode["episode/cost"], learner.failure_rate)
        violation = failure_rate - hyperparams["cost_limit"]
        new_distribution = network.apply(new_params, observation)
        q_new = csc.expected_q(q_params, new_distribution, observation, key_new)
        surrogate_change = scale * jnp.mean(q_new - q_old)
        multiplier = multiplier_step(
            learner.multiplier,
            violation,
            surrogate_change,
            algo.lagrange_learning_rate,
            algo.multiplier_update,
            algo.lagrange_max,
        )
        cumulative = learner.cumulative_failures + jnp.sum(batch.trajectory.cost)
        extras = batch.trajectory.extras
        drawn = jnp.where(extras["fallback"], algo.rejection_candidates, extras["rejections"] + 1)
        metrics = {
            "loss/policy": -(surrogate_old + kept["improvement"]),
            "policy/kl": kept["kl"],
            "policy/improvement": kept["improvement"],
            "policy/entropy": old_distribution.entropy().mean(),
            "trust_region/accepted": search.accepted.astype(jnp.float32),
            "trust_region/step_fraction": search.step_fraction,
            "trust_region/curvature": info.curvature,
            "trust_region/step_size": info.step_size,
            "constraint/multiplier": learner.multiplier,  # the λ this step used
            "constraint/violation": violation,
            "constraint/cost_advantage": surrogate_change,
            "failures/episodic": failure_rate,
            "failures/batch": jnp.sum(batch.trajectory.cost),
            "failures/cumulative": cumulative,
            "exploration/epsilon": rejection_threshold(
                hyperparams["cost_limit"], learner.failure_rate, algo.cost_discount
            ),
            "exploration/rejection_rate": jnp.sum(extras["rejections"]) / jnp.sum(drawn),
            "exploration/fallback_rate": jnp.mean(extras["fallback"].astype(jnp.float32)),
            "exploration/rejections": jnp.mean(extras["rejections"].astype(jnp.float32)),
        }
        learner = learner._replace(
            multiplier=multiplier,
            failure_rate=failure_rate,
            cumulative_failures=cumulative,
            key=key,
        )
        return learner, new_params, metrics

    hyperparams = {
        "cost_limit": jnp.float32(algo.cost_limit),
        "max_kl": jnp.float32(algo.max_kl),
        "cql_alpha": jnp.float32(algo.cql_alpha),
    }
    return on_policy.PolicyUpdate(
        # The frame has no key for the learner: init (below) redraws Q_C's parameters per seed.
        init=lambda params, hyperparams: csc.init_learner(jax.random.key(0), hyperparams),
        step=step,
        hyperparams=hyperparams,
    )


# ---------------------------------------------------------------------------------------------
# The update
# ---------------------------------------------------------------------------------------------


def acting_policy(frame: Frame, csc: CSC, state: OnPolicyState, rejection: bool = True) -> Policy:
    """The policy of ``state``: rejection sampling through Q̂_C (training), or plain π_φ."""
    if not rejection:
        return on_policy.policy(frame, state)
    learner: CSCLearner = state.learner
    normalizer = state.normalizer if frame.algo.normalize_observations else None
    epsilon = rejection_threshold(
        state.hyperparams["cost_limit"], learner.failure_rate, frame.algo.cost_discount
    )
    return rejection_policy(
        frame.policy_network,
        state.policy_params,
        normalizer,
        csc.q_values,
        learner.safety_critic.params,
        epsilon,
        frame.algo.rejection_candidates,
    )


def init(frame: Frame, csc: CSC, key: jax.Array, hyperparams: Hyperparams) -> OnPolicyState:
    """The frame's initial state with this seed's learner (and the optional pre-seeded ring)."""
    algo = frame.algo
    key_frame, key_learner, key_prefill = jax.random.split(key, 3)
    state = on_policy.init(frame, key_frame, hyperparams)
    learner = csc.init_learner(key_learner, hyperparams)
    if algo.replay_prefill_steps > 0:
        learner = learner._replace(replay=prefill(frame, learner.replay, key_prefill))
    return state._replace(learner=learner)


def prefill(frame: Frame, ring: replay.ReplayBuffer, key: jax.Array) -> replay.ReplayBuffer:
    """``ring`` with ``replay_prefill_steps`` transitions (rounded up to whole env steps) of a
    uniformly random policy in fresh environments."""
    algo = frame.algo
    space = frame.env.action_space(frame.env_params)

    def uniform(carry, observation, key, deterministic=False):
        keys = jax.random.split(key, observation.shape[0])
        action = jax.vmap(space.sample)(keys)
        return carry, action, {"log_prob": jnp.zeros(observation.shape[0])}

    key_reset, key_rollout = jax.random.split(key)
    runner = rollout.reset(
        frame.env, frame.env_params, key_reset, algo.num_envs, frame.counter_names
    )
    num_steps = -(-algo.replay_prefill_steps // algo.num_envs)
    _, trajectory, _ = rollout.collect(
        frame.env,
        frame.env_params,
        Policy(no_carry, uniform),
        runner,
        key_rollout,
        num_steps,
        algo.discount,
        algo.cost_discount,
    )
    return replay.insert(ring, replay.transitions_of(trajectory))


def collect(frame: Frame, csc: CSC, state: OnPolicyState) -> tuple[OnPolicyState, Rollout]:
    """Phase 1 with rejection sampling: a batch of π_φ filtered by Q̂_C (§C.6)."""
    algo = frame.algo
    key, key_rollout = jax.random.split(state.key)
    runner, trajectory, records = rollout.collect(
        frame.env,
        frame.env_params,
        acting_policy(frame, csc, state),
        state.runner,
        key_rollout,
        algo.num_steps,
        algo.discount,
        algo.cost_discount,
    )
    return state._replace(runner=runner, key=key), Rollout(trajectory, records)


def fit_safety_critic(
    frame: Frame, csc: CSC, state: OnPolicyState, batch: Rollout
) -> tuple[OnPolicyState, dict[str, jax.Array]]:
    """The batch into the ring, then the critic's Adam steps on ring minibatches (§C.2, §C.7)."""
    algo = frame.algo
    learner: CSCLearner = state.learner
    ring = replay.insert(learner.replay, replay.transitions_of(batch.trajectory))
    key, key_steps = jax.random.split(learner.key)
    alpha = state.hyperparams["cql_alpha"]

    def normalize(observation):
        if not algo.normalize_observations:
            return observation
        return normalization.normalize(state.normalizer, observation)

    def one_step(critic: SafetyCriticState, key: jax.Array):
        key_sample, key_policy, key_next = jax.random.split(key, 3)
        data = replay.sample(ring, key_sample, algo.safety_critic_batch_size)
        observation = normalize(data.observation)
        next_observation = normalize(data.next_observation)
        policy = frame.policy_network.apply(state.policy_params, observation)
        next_policy = frame.policy_network.apply(state.policy_params, next_observation)
        next_q = csc.expected_q(critic.target_params, next_policy, next_observation, key_next)

        def loss(params):
            q_data = csc.q_values(params, observation, data.action)
            q_policy = csc.expected_q(params, policy, observation, key_policy)
            return conservative_td_loss(
                q_data, q_policy, next_q, data.cost, data.terminated, alpha, algo.cost_discount
            )

        (value, parts), grads = jax.value_and_grad(loss, has_aux=True)(critic.params)
        updates, opt_state = csc.optimizer.update(grads, critic.opt_state, critic.params)
        params = optax.apply_updates(critic.params, updates)
        steps = critic.steps + 1
        target = update_target(
            params,
            critic.target_params,
            steps,
            algo.target_update,
            algo.target_polyak,
            algo.target_copy_period,
        )
        return SafetyCriticState(params, target, opt_state, steps), {"loss": value, **parts}

    critic, losses = jax.lax.scan(
        one_step, learner.safety_critic, jax.random.split(key_steps, algo.safety_critic_steps)
    )
    losses = jax.tree.map(jnp.mean, losses)
    learner = learner._replace(safety_critic=critic, replay=ring, key=key)
    metrics = {
        "loss/safety_critic": losses["loss"],
        "loss/safety_critic_td": losses["td"],
        "safety_critic/q_data": losses["q_data"],
        "safety_critic/q_policy": losses["q_policy"],
        "safety_critic/conservatism_gap": losses["q_policy"] - losses["q_data"],
        "replay/size": ring.size.astype(jnp.float32),
    }
    return state._replace(learner=learner), metrics


def update(frame: Frame, csc: CSC, state: OnPolicyState) -> tuple[OnPolicyState, dict]:
    """One update of Algorithm 1: rejection-sampled batch, policy and λ, critics, Q_C."""
    state, batch = collect(frame, csc, state)
    prepared = on_policy.prepare(frame, state, batch)
    state, policy_metrics = on_policy.policy_update(frame, state, prepared)
    state, critic_metrics = on_policy.fit_critics(frame, state, prepared)
    state, safety_metrics = fit_safety_critic(frame, csc, state, batch)
    # The normaliser learns from this batch only after it has been used.
    observation = batch.trajectory.observation.reshape(frame.batch_size, *frame.observation_shape)
    state = state._replace(
        normalizer=normalization.update(state.normalizer, observation),
        update_step=state.update_step + 1,
    )
    metrics = {
        **prepared.batch.episode,
        **policy_metrics,
        **critic_metrics,
        **safety_metrics,
        "batch/cost": batch.trajectory.cost.mean(),
    }
    return state, metrics


def build(
    algo: ml_collections.ConfigDict,
    policy_network: nn.Module,
    action_space: spaces.Box | spaces.Discrete,
    observation_shape: tuple[int, ...],
) -> CSC:
    """CSC's static pieces for a policy network and the task's spaces."""
    return CSC(
        algo=algo,
        policy_network=policy_network,
        critic_network=SafetyCritic(
            tuple(algo.hidden_sizes), float(algo.safety_critic_initial_value)
        ),
        optimizer=optax.chain(
            optax.clip_by_global_norm(algo.max_grad_norm),
            optax.adam(algo.safety_critic_learning_rate),
        ),
        action_space=action_space,
        observation_shape=observation_shape,
    )


def frame_phases(frame: Frame) -> dict[str, Callable[..., Any]]:
    """The phases that differ from the frame's, for ``benchmarks/update_split.py``:
    ``"rollout": state -> (state, rollout)`` (acting by rejection sampling) and
    ``"safety_critic": (state, rollout) -> (state, metrics)`` (the ring and Q_C's steps)."""
    csc = build(
        frame.algo,
        frame.policy_network,
        frame.env.action_space(frame.env_params),
        frame.observation_shape,
    )
    return {
        "rollout": lambda state: collect(frame, csc, state),
        "safety_critic": lambda state, batch: fit_safety_critic(frame, csc, state, batch),
    }


def make_frame(config: ml_collections.ConfigDict, env, env_params) -> tuple[Algorithm, Frame]:
    """The algorithm and its on-policy frame (whose phases ``update_split.py`` times)."""
    algo = config.algo
    space = env.action_space(env_params)
    observation_shape = env.observation_space(env_params).shape
    frame = on_policy.make_frame(
        config,
        env,
        env_params,
        lambda network: csc_policy_update(build(algo, network, space, observation_shape)),
        exceedance_threshold=config.log.get("cost_threshold"),
    )
    csc = build(algo, frame.policy_network, space, observation_shape)
    algorithm = dataclasses.replace(
        on_policy.algorithm(frame),
        init=lambda key, hyperparams: init(frame, csc, key, hyperparams),
        update=lambda state: update(frame, csc, state),
        policy=lambda state: acting_policy(frame, csc, state, algo.eval_rejection_sampling),
    )
    return algorithm, frame


def make(config: ml_collections.ConfigDict, env, env_params) -> Algorithm:
    return make_frame(config, env, env_params)[0]
