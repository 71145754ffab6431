"""CSC (``csc``): the replay ring, the conservative safety critic, rejection sampling, the
natural-gradient step, the multiplier, and checkpointing, each against an independent reference.

Determinism and two finite, different vmapped seeds are checked for every algorithm by its
golden run (``tests/test_golden_runs.py``, which includes ``csc/IcyLake-v1``), a single trace by
``tests/test_training.py``; the learning checks on PointTrap-v1 are the slow tests at the end.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from golden_runs import golden_config
from jax.flatten_util import ravel_pytree

import jaxsafe_envs
from jaxsafe import replay
from jaxsafe.algorithms import csc
from jaxsafe.checkpointing import Checkpointer
from jaxsafe.config import ConfigError, validate
from jaxsafe.networks import GaussianPolicy
from jaxsafe.solvers import backtracking_line_search, decaying_fractions, fisher_vector_product
from jaxsafe.train import make_algorithm

# ---------------------------------------------------------------------------------------------
# Replay ring
# ---------------------------------------------------------------------------------------------


def _batch(start: int, steps: int, envs: int) -> replay.Transition:
    """A ``[T, N]`` batch whose transitions are numbered start, start + 1, … (time-major)."""
    ids = np.arange(start, start + steps * envs, dtype=np.float32).reshape(steps, envs)
    return replay.Transition(
        observation=jnp.stack([ids, -ids], axis=-1),
        action=jnp.asarray(ids[..., None] * 10),
        next_observation=jnp.stack([ids + 0.5, -ids], axis=-1),
        reward=jnp.asarray(ids),
        cost=jnp.asarray(ids % 2),
        terminated=jnp.asarray(ids % 3 == 0),
        truncated=jnp.asarray(ids % 5 == 0),
    )


def test_ring_insert_wraps_like_a_python_ring():
    capacity, steps, envs = 10, 2, 3
    ring = replay.init(capacity, jax.tree.map(lambda x: x[0, 0], _batch(0, steps, envs)))
    insert = jax.jit(replay.insert)
    # A plain Python ring: a list of slots, a write position, a size.
    slots, position, size = [None] * capacity, 0, 0
    for k in range(5):  # 30 transitions through 10 slots
        ring = insert(ring, _batch(100 * k, steps, envs))
        for i in range(steps * envs):
            slots[position] = 100 * k + i  # the time-major order t N + n
            position, size = (position + 1) % capacity, min(size + 1, capacity)
        assert int(ring.position) == position and int(ring.size) == size
        filled = [slot for slot in range(capacity) if slots[slot] is not None]
        np.testing.assert_array_equal(
            np.asarray(ring.data.reward)[filled], np.array([slots[s] for s in filled], np.float32)
        )
        np.testing.assert_array_equal(
            np.asarray(ring.data.observation)[filled, 1], -np.asarray(ring.data.reward)[filled]
        )
        np.testing.assert_array_equal(
            np.asarray(ring.data.terminated)[filled], np.asarray(ring.data.reward)[filled] % 3 == 0
        )


def test_ring_samples_uniformly_from_the_filled_slots_only():
    ring = replay.init(8, jax.tree.map(lambda x: x[0, 0], _batch(0, 1, 1)))
    ring = replay.insert(ring, _batch(0, 2, 3))  # 6 of 8 slots: ids 0..5
    ring = replay.insert(ring, _batch(10, 1, 4))  # wraps: ids 10..13 over slots 6, 7, 0, 1
    held = {2.0, 3.0, 4.0, 5.0, 10.0, 11.0, 12.0, 13.0}
    draws = replay.sample(ring, jax.random.key(0), 8_000)
    np.testing.assert_array_equal(draws.observation[:, 1], -draws.reward)  # whole transitions
    values, counts = np.unique(np.asarray(draws.reward), return_counts=True)
    assert set(values.tolist()) == held
    # Uniform: each of the 8 held transitions about 1,000 times (binomial sd ≈ 30).
    assert np.abs(counts - 1_000).max() < 5 * 30


def test_ring_rejects_a_batch_larger_than_itself():
    ring = replay.init(4, jax.tree.map(lambda x: x[0, 0], _batch(0, 1, 1)))
    with pytest.raises(ValueError, match="does not fit"):
        replay.insert(ring, _batch(0, 2, 3))


# ---------------------------------------------------------------------------------------------
# The conservative safety critic on a tabular MDP
# ---------------------------------------------------------------------------------------------

GAMMA = 0.9
# 3 states × 2 actions; c ~ Bernoulli(p(s, a)) and a failure ends the episode; otherwise
# s′ = next_state[s, a]. π(a|s) and the data's μ(a|s) differ, so the CQL term is not zero.
FAILURE = np.array([[0.1, 0.5], [0.0, 0.3], [0.2, 0.05]])
NEXT_STATE = np.array([[1, 2], [2, 0], [0, 1]])
PI = np.array([[0.8, 0.2], [0.5, 0.5], [0.3, 0.7]])
MU = np.array([[0.5, 0.5], [0.75, 0.25], [0.6, 0.4]])


def _fixed_point(alpha: float) -> np.ndarray:
    """The reversed-CQL fixed point by a linear solve (plain numpy): per (s, a), the loss's
    stationarity α (d(s, a) − d(s) π(a|s)) + d(s, a) (Q − y) = 0 gives
    Q = p + γ (1 − p) Σ_a′ π(a′|s′) Q(s′, a′) − α (1 − π(a|s)/μ(a|s)); α = 0 is Q^π."""
    num_states, num_actions = FAILURE.shape
    n = num_states * num_actions
    matrix = np.eye(n)
    for s in range(num_states):
        for a in range(num_actions):
            row = s * num_actions + a
            for a2 in range(num_actions):
                matrix[row, NEXT_STATE[s, a] * num_actions + a2] -= (
                    GAMMA * (1 - FAILURE[s, a]) * PI[NEXT_STATE[s, a], a2]
                )
    rhs = FAILURE - alpha * (1 - PI / MU)
    return np.linalg.solve(matrix, rhs.reshape(-1)).reshape(num_states, num_actions)


def _tabular_data():
    """The data set with exact frequencies: (s, a, outcome) repeated 200 μ(a|s) P(outcome)
    times per state (all integers), so that sample means are the exact expectations."""
    rows = []
    for s in range(3):
        for a in range(2):
            for failed, probability in ((1, FAILURE[s, a]), (0, 1 - FAILURE[s, a])):
                count = round(200 * MU[s, a] * probability)
                rows += [(s, a, NEXT_STATE[s, a], failed)] * count
    s, a, s2, c = (np.array(column) for column in zip(*rows, strict=True))
    return s, a, s2, c.astype(np.float32)


@functools.cache
def _tabular_q(alpha: float) -> np.ndarray:
    """Q̂_C learned with :func:`csc.conservative_td_loss`: fitted Q iteration (a target copy per
    round), each round Adam on the logits of Q = sigmoid(logit), with the exact E_{a∼π} Q(s, ·)
    and E_{a′∼π} Q̄(s′, ·) of the tabular π."""
    s, a, s2, c = _tabular_data()
    pi = jnp.asarray(PI, jnp.float32)
    cost = jnp.asarray(c)

    def loss(logits, target_q):
        q = jax.nn.sigmoid(logits)
        q_policy = (pi[s] * q[s]).sum(-1)
        next_q = (pi[s2] * target_q[s2]).sum(-1)
        return csc.conservative_td_loss(q[s, a], q_policy, next_q, cost, cost > 0, alpha, GAMMA)[0]

    optimizer = optax.adam(0.05)

    @jax.jit
    def solve(logits, target_q):
        def step(carry, _):
            logits, state = carry
            updates, state = optimizer.update(jax.grad(loss)(logits, target_q), state)
            return (optax.apply_updates(logits, updates), state), None

        (logits, _), _ = jax.lax.scan(step, (logits, optimizer.init(logits)), None, 1000)
        return logits

    logits = jnp.zeros((3, 2))
    for _ in range(80):
        logits = solve(logits, jax.nn.sigmoid(logits))
    return np.asarray(jax.nn.sigmoid(logits))


def test_safety_critic_without_the_cql_term_is_the_td_fixed_point():
    np.testing.assert_allclose(_tabular_q(0.0), _fixed_point(0.0), atol=2e-3)


def test_reversed_cql_over_estimates_the_failure_probability_under_pi():
    learned, exact = _tabular_q(0.05), _fixed_point(0.0)
    np.testing.assert_allclose(learned, _fixed_point(0.05), atol=2e-3)
    value_learned, value_exact = (PI * learned).sum(-1), (PI * exact).sum(-1)
    # CQL's Theorem 3.2 with the sign reversed: V̂ = V + α (I − γP^π)⁻¹ Σ_a π (π/μ − 1) ≥ V.
    assert (value_learned > value_exact + 1e-3).all(), (value_learned, value_exact)


def test_the_cql_term_pushes_q_up_under_pi_and_down_on_the_data():
    q = jnp.array([0.2, 0.4])
    args = (jnp.zeros(2), jnp.zeros(2), jnp.array([False, True]), 0.5, 0.9)
    grad_data, grad_policy = jax.grad(
        lambda qd, qp: csc.conservative_td_loss(qd, qp, *args)[0], argnums=(0, 1)
    )(q, q)
    # d/dq_policy = −α/B: descent raises Q on π's actions; on the data, +α/B plus the TD part.
    np.testing.assert_allclose(grad_policy, [-0.25, -0.25])
    np.testing.assert_allclose(grad_data, [0.25 + 0.1, 0.25 + 0.2])


def test_safety_critic_starts_at_its_initial_value():
    """Q_C = sigmoid(f + logit(q₀)): against the same network at q₀ = ½ (offset 0) shifted by
    logit(q₀) in numpy, and exactly q₀ everywhere when f's output layer is zero."""
    q0 = 1e-4
    inputs = jax.random.normal(jax.random.key(0), (2, 16, 5))  # observation 3, action 2
    observation, action = inputs[..., :3], inputs[..., 3:]
    half, shifted = csc.SafetyCritic((8, 8)), csc.SafetyCritic((8, 8), q0)
    params = half.init(jax.random.key(1), observation, action)
    q_half = np.asarray(half.apply(params, observation, action), np.float64)
    expected = 1.0 / (1.0 + (1.0 - q_half) / q_half * (1.0 - q0) / q0)
    np.testing.assert_allclose(shifted.apply(params, observation, action), expected, rtol=1e-4)
    zero_output = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x) if "Dense_2" in jax.tree_util.keystr(path) else x,
        params,
    )
    np.testing.assert_allclose(shifted.apply(zero_output, observation, action), q0, rtol=1e-5)
    np.testing.assert_allclose(half.apply(zero_output, observation, action), 0.5)


def test_backup_is_cut_at_termination_and_kept_at_truncation():
    # terminated → y = c; not terminated (truncated or not) → y = c + γ Q̄(s′).
    _, parts = csc.conservative_td_loss(
        jnp.array([0.0, 0.0]), jnp.zeros(2), jnp.array([0.5, 0.5]), jnp.array([1.0, 0.0]),
        jnp.array([True, False]), 0.0, 0.9,
    )  # fmt: skip
    np.testing.assert_allclose(parts["td"], 0.5 * (1.0**2 + 0.45**2) / 2)


# ---------------------------------------------------------------------------------------------
# Rejection sampling
# ---------------------------------------------------------------------------------------------


def test_rejection_takes_the_first_passing_candidate_else_the_arg_min():
    q = jnp.array(
        [
            [0.5, 0.01, 0.9, 0.3],
            [0.02, 0.5, 0.8, 0.3],
            [0.01, 0.0, 0.7, 0.3],
        ]
    )  # [K = 3, N = 4]
    choice = jax.jit(csc.rejection_choice)(q, jnp.float32(0.05))
    # env 0: candidate 1 is the first ≤ ε; env 1: candidate 0; env 2, 3: none, arg-min 2 and 0.
    np.testing.assert_array_equal(choice.index, [1, 0, 2, 0])
    np.testing.assert_array_equal(choice.rejections, [1, 0, 3, 3])
    np.testing.assert_array_equal(choice.fallback, [False, False, True, True])


def test_a_negative_threshold_rejects_every_candidate():
    epsilon = csc.rejection_threshold(jnp.float32(0.1), jnp.float32(0.3), 0.99)
    np.testing.assert_allclose(epsilon, 0.01 * (0.1 - 0.3), rtol=1e-6)
    choice = csc.rejection_choice(jnp.array([[0.0, 0.3], [0.1, 0.2]]), epsilon)
    assert bool(choice.fallback.all())
    np.testing.assert_array_equal(choice.index, [0, 1])
    np.testing.assert_array_equal(choice.rejections, [2, 2])


def test_rejection_policy_executes_the_first_safe_sample_and_logs_it():
    network = GaussianPolicy(action_size=1, hidden_sizes=(4,))
    params = network.init(jax.random.key(0), jnp.zeros(2))
    observation = jnp.zeros((64, 2))
    # "Q_C" = the action itself: safe iff a ≤ ε = 0.
    policy = csc.rejection_policy(
        network, params, None, lambda p, o, a: a[..., 0], None, jnp.float32(0.0), 8
    )
    _, action, extras = jax.jit(policy.step, static_argnums=3)(
        (), observation, jax.random.key(1), False
    )
    candidates = network.apply(params, observation).sample(seed=jax.random.key(1), sample_shape=8)
    candidates = np.asarray(candidates[..., 0])  # [K, N]
    for n in range(64):
        safe = np.flatnonzero(candidates[:, n] <= 0.0)
        expected = safe[0] if safe.size else np.argmin(candidates[:, n])
        np.testing.assert_allclose(action[n, 0], candidates[expected, n], rtol=1e-6)
        assert int(extras["rejections"][n]) == (safe[0] if safe.size else 8)
        assert bool(extras["fallback"][n]) == (safe.size == 0)
    np.testing.assert_allclose(
        extras["log_prob"], network.apply(params, observation).log_prob(action), rtol=1e-6
    )


# ---------------------------------------------------------------------------------------------
# The natural-gradient step and its backtracking
# ---------------------------------------------------------------------------------------------


def test_natural_gradient_step_matches_the_explicit_fisher():
    network = GaussianPolicy(action_size=2, hidden_sizes=(4,))
    params = network.init(jax.random.key(0), jnp.zeros(3))
    observation = jax.random.normal(jax.random.key(1), (16, 3))
    flat, unravel = ravel_pytree(params)
    dim = flat.size
    # F = (1/M) Σ_s [J_μᵀ Σ⁻¹ J_μ + 2 J_logσᵀ J_logσ], the Gaussian's Fisher information in the
    # parameters, from the Jacobians of its mean and log σ (no KL differentiated).
    mean = jax.jacobian(lambda f: network.apply(unravel(f), observation).loc)(flat)  # [M, A, P]
    log_std = jax.jacobian(lambda f: jnp.log(network.apply(unravel(f), observation).scale_diag))(
        flat
    )
    precision = 1.0 / np.asarray(network.apply(params, observation).scale_diag) ** 2  # [M, A]
    mean, log_std = np.asarray(mean, np.float64), np.asarray(log_std, np.float64)
    fisher = (
        np.einsum("map,ma,maq->pq", mean, precision, mean)
        + 2.0 * np.einsum("map,maq->pq", log_std, log_std)
    ) / observation.shape[0]
    damping, max_kl = 0.1, 0.01
    gradient = np.asarray(jax.random.normal(jax.random.key(2), (dim,)), np.float64)
    direction = np.linalg.solve(fisher + damping * np.eye(dim), gradient)
    expected = np.sqrt(2 * max_kl / (gradient @ direction)) * direction

    old = network.apply(params, observation)

    def mean_kl(p):
        return jnp.mean(old.kl_divergence(network.apply(p, observation)))

    hvp = fisher_vector_product(mean_kl, params, damping)
    step, info = csc.natural_gradient_step(unravel(jnp.asarray(gradient)), hvp, max_kl, 3 * dim)
    np.testing.assert_allclose(ravel_pytree(step)[0], expected, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(info.curvature, gradient @ direction, rtol=1e-3)


def test_a_vanishing_gradient_takes_no_step():
    step, info = csc.natural_gradient_step({"w": jnp.zeros(3)}, lambda v: v, jnp.float32(0.01), 3)
    np.testing.assert_array_equal(step["w"], 0.0)
    assert float(info.step_size) == 0.0


def test_backtracking_schedule_decays_as_beta_j_times_one_minus_beta_j_to_the_j_plus_one():
    # By hand: β0 = 0.7, β1 = 0.7·0.3, β2 = 0.21·0.79², β3 = β2·(1 − β2)³.
    beta2 = 0.21 * 0.79**2
    expected = [0.7, 0.21, beta2, beta2 * (1 - beta2) ** 3]
    np.testing.assert_allclose(decaying_fractions(0.7, 4), expected, rtol=1e-6)


def test_kl_only_backtracking_keeps_the_first_passing_fraction_or_does_not_move():
    fractions = decaying_fractions(0.7, 20)

    def search(max_kl):
        # KL(θ) = ½ · 4 θ², full step 1: fraction f passes iff 2 f² ≤ δ (no objective test).
        def evaluate(theta):
            return 2.0 * theta[0] ** 2 <= max_kl, theta[0]

        return backtracking_line_search(jnp.zeros(1), jnp.ones(1), fractions, evaluate)

    kept, info = search(0.05)
    # A sequential loop: the first j with 2 β_j² ≤ 0.05.
    first = next(j for j, f in enumerate(np.asarray(fractions)) if 2 * f**2 <= 0.05)
    assert int(info.index) == first
    np.testing.assert_allclose(kept, [fractions[first]])
    kept, info = search(-1.0)  # nothing passes: no update
    assert not bool(info.accepted) and int(info.index) == -1
    np.testing.assert_array_equal(kept, [0.0])


# ---------------------------------------------------------------------------------------------
# The multiplier
# ---------------------------------------------------------------------------------------------


def test_multiplier_rules_on_hand_worked_numbers():
    # V̂_C = 0.3, χ = 0.1: Δ = 0.2; Ê[Â_C]/(1 − γ) = 0.5; η = 0.04: η(Δ + …) = 0.028.
    step = functools.partial(csc.multiplier_step, learning_rate=0.04, max_multiplier=10.0)
    np.testing.assert_allclose(step(1.0, 0.2, 0.5, rule="projected"), 1.028, rtol=1e-6)
    np.testing.assert_allclose(step(1.0, 0.2, 0.5, rule="paper_literal"), 0.972, rtol=1e-6)
    # Satisfied (Δ + … = −0.3): projected lowers λ, the paper-literal rule raises it.
    np.testing.assert_allclose(step(1.0, -0.4, 0.1, rule="projected"), 0.988, rtol=1e-6)
    np.testing.assert_allclose(step(1.0, -0.4, 0.1, rule="paper_literal"), 1.012, rtol=1e-6)
    # Bounded: λ ∈ [0, λ_max].
    assert float(step(0.01, 0.2, 0.5, rule="paper_literal")) == 0.0
    assert float(step(9.99, 0.2, 0.5, rule="projected")) == 10.0


# ---------------------------------------------------------------------------------------------
# Config and a tiny run: checkpoint round trip, pre-seeding, metrics
# ---------------------------------------------------------------------------------------------


def test_bad_config_names_the_field():
    config = golden_config("csc/IcyLake-v1")
    for field, value, message in (
        ("multiplier_update", "dual", "config.algo.multiplier_update = 'dual'"),
        ("replay_capacity", 64, "config.algo.replay_capacity = 64: must hold a batch"),
        ("cost_discount", 1.0, "config.algo.cost_discount = 1.0: must be < 1"),
        ("backtrack_init", 1.0, "config.algo.backtrack_init = 1.0"),
        ("safety_critic_initial_value", 0.0, "config.algo.safety_critic_initial_value = 0.0"),
    ):
        bad = config.copy_and_resolve_references()
        bad.algo[field] = value
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            validate(bad)


def _assert_identical(a, b) -> None:
    """Every leaf of two pytrees bit for bit (PRNG keys by their data)."""

    def data(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(leaf)
        return leaf

    jax.tree.map(lambda x, y: np.testing.assert_array_equal(data(x), data(y)), a, b)


@functools.cache
def _tiny_run():
    """The IcyLake golden settings with a ring of 300 (wraps in the third update): 2 seeds,
    updates one by one."""
    config = golden_config("csc/IcyLake-v1")
    config.algo.replay_capacity = 300
    algorithm = make_algorithm(config)
    keys = jax.random.split(jax.random.key(0), 2)
    init = jax.jit(jax.vmap(lambda key: algorithm.init(key, algorithm.hyperparams)))
    update = jax.jit(jax.vmap(algorithm.update))
    # Committed to the device, like a state restored from a checkpoint, so that the update of a
    # restored state reuses this program instead of compiling another.
    states, rows = [jax.device_put(init(keys), jax.devices()[0])], []
    for _ in range(3):
        state, metrics = update(states[-1])
        states.append(state)
        rows.append(metrics)
    return algorithm, update, states, jax.device_get(rows)


def test_every_batch_enters_the_ring_and_the_metrics_are_logged():
    _, _, states, rows = _tiny_run()
    np.testing.assert_array_equal(states[0].learner.replay.size, [0, 0])
    np.testing.assert_array_equal(states[1].learner.replay.size, [128] * 2)
    np.testing.assert_array_equal(states[3].learner.replay.size, [300] * 2)  # wrapped
    np.testing.assert_array_equal(states[3].learner.replay.position, [3 * 128 % 300] * 2)
    for metrics in rows:
        for name in (
            "failures/cumulative",
            "exploration/rejection_rate",
            "exploration/fallback_rate",
            "exploration/epsilon",
            "constraint/multiplier",
            "safety_critic/conservatism_gap",
            "safety_critic/q_data",
            "safety_critic/q_policy",
        ):
            assert np.isfinite(metrics[name]).all(), name
        q_policy = metrics["safety_critic/q_policy"]
        assert ((q_policy >= 0) & (q_policy <= 1)).all()
    cumulative = np.stack([m["failures/cumulative"] for m in rows])
    batches = np.cumsum(np.stack([m["failures/batch"] for m in rows]), axis=0)
    np.testing.assert_array_equal(cumulative, batches)


def test_prefill_seeds_the_ring_with_whole_environment_steps():
    config = golden_config("csc/IcyLake-v1")
    config.algo.replay_prefill_steps = 10  # 3 steps of the 4 environments: 12 transitions
    _, frame = csc.make_frame(config, *jaxsafe_envs.make("IcyLake-v1", max_steps_in_episode=20))
    learner = csc.build(
        config.algo, frame.policy_network, frame.env.action_space(), frame.observation_shape
    ).init_learner(jax.random.key(0), {})
    ring = jax.jit(lambda key: csc.prefill(frame, learner.replay, key))(jax.random.key(1))
    assert int(ring.size) == 12 and int(ring.position) == 12
    assert bool((ring.data.action[:12] < 4).all()) and bool((ring.data.action[12:] == 0).all())


def test_checkpoint_round_trip_restores_every_leaf_bit_for_bit(tmp_path):
    """The ring, Q_C, its target and optimiser, λ, V̂_C, the failure count and the learner's key
    are all in the saved state, and a run resumed from it continues bit for bit."""
    _, update, states, _ = _tiny_run()
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    checkpointer.save(2, states[2])
    restored = checkpointer.restore(2, states[2])
    checkpointer.close()
    _assert_identical(restored, states[2])
    assert int(restored.learner.replay.size[0]) == 256
    # One update from the restored state is the uninterrupted run's third (the ring wraps).
    resumed, _ = update(restored)
    _assert_identical(resumed, states[3])


def test_eval_flag_selects_rejection_or_the_plain_policy():
    algorithm, _, states, _ = _tiny_run()
    state = jax.tree.map(lambda x: x[0], states[1])
    observation = jnp.zeros((3, *algorithm.env.observation_space(algorithm.env_params).shape))

    def extras(algorithm):
        step = jax.jit(lambda state, key: algorithm.policy(state).step((), observation, key, True))
        return set(step(state, jax.random.key(0))[2])

    assert extras(algorithm) == {"log_prob", "rejections", "fallback"}
    config = golden_config("csc/IcyLake-v1")
    config.algo.eval_rejection_sampling = False
    assert extras(make_algorithm(config)) == {"log_prob"}


# ---------------------------------------------------------------------------------------------
# Slow: fewer failures during training than PPO-Lagrangian on PointTrap-v1
# ---------------------------------------------------------------------------------------------


def _experiment(name: str):
    path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}_pointtrap.py"
    spec = importlib.util.spec_from_file_location(f"_experiment_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


@pytest.fixture(scope="module")
def pointtrap_outcome():
    """``experiments/csc_pointtrap.py`` and ``ppo_lag_pointtrap.py``: 4 seeds each, the same
    budget; per seed, the cumulative training failures (deaths) and the final policy's success
    rate over 200 evaluation episodes (its public policy: csc's rejects through Q̂_C)."""
    from jaxsafe.episodes import run_episodes
    from jaxsafe.train import make_train

    outcome = {}
    for name in ("csc", "ppo_lag"):
        config = _experiment(name)
        keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
        states, metrics = jax.jit(jax.vmap(make_train(config)))(keys)
        deaths = np.sum(metrics["episode/cost"] * metrics["episode/count"], axis=1)
        algorithm = make_algorithm(config)

        def success(state, key, algorithm=algorithm):
            results, _ = run_episodes(
                algorithm.policy(state), algorithm.env, algorithm.env_params, key, 200
            )
            return (results.counters["success"] > 0).mean()

        eval_keys = jax.random.split(jax.random.key(1), config.num_seeds)
        rates = jax.jit(jax.vmap(success))(states, eval_keys)
        outcome[name] = {"deaths": np.asarray(deaths), "success": np.asarray(rates)}
    print(f"PointTrap-v1, cumulative training deaths and eval success per seed: {outcome}")
    return outcome


@pytest.mark.slow
def test_csc_fails_less_than_ppo_lagrangian_during_training_on_pointtrap(pointtrap_outcome):
    assert pointtrap_outcome["csc"]["deaths"].mean() < pointtrap_outcome["ppo_lag"]["deaths"].mean()


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured 2026-12-02 (-O2, 1e088e7): eval success 0 in all 4 seeds (PPO-Lagrangian "
    "0.75); the shield's arg-min fallback blocks the goal, docs/results.md 'CSC on PointTrap'",
)
def test_csc_reaches_the_pointtrap_goal_in_most_evaluation_episodes(pointtrap_outcome):
    """The issue's second half of the learning check, kept at its bound and expected to fail
    until CSC reaches the goal here (strict: an unexpected pass fails, to be looked at)."""
    assert pointtrap_outcome["csc"]["success"].mean() >= 0.5


def test_target_network_follows_polyak_or_periodic_copies():
    """Q̄ over 5 critic steps (Q = step), against a plain loop: τ-averaging, or Q every 2 steps."""
    tau, period = 0.25, 2
    expected_polyak, expected_copy = np.zeros(3), np.zeros(3)
    target_polyak, target_copy = {"w": jnp.zeros(3)}, {"w": jnp.zeros(3)}
    for step in range(1, 6):
        expected_polyak = (1 - tau) * expected_polyak + tau * step
        expected_copy = np.full(3, float(step)) if step % period == 0 else expected_copy
        params, steps = {"w": jnp.full(3, float(step))}, jnp.int32(step)
        target_polyak = csc.update_target(params, target_polyak, steps, "polyak", tau, period)
        target_copy = csc.update_target(params, target_copy, steps, "copy", tau, period)
    np.testing.assert_allclose(target_polyak["w"], expected_polyak, rtol=1e-6)
    np.testing.assert_array_equal(target_copy["w"], expected_copy)
    assert expected_copy[0] == 4.0  # the last copy came at step 4
