"""Cost shaping with a fault predictor (CPO §6.3): labels against a plain loop, the predictor's
fit, the renewal estimate of the margin, and the shaped constraint inside the CPO update."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from golden_runs import load_golden

import jaxsafe_envs
from conftest import tiny_config
from jaxsafe.algorithms import cpo, on_policy
from jaxsafe.config import ConfigError, validate
from jaxsafe.cost_shaping import FaultPredictor, shaping_margin, unsafe_within
from jaxsafe.train import make_train


def _reference_labels(cost, done, horizon):
    """y_t and whether the batch determines it, by walking forward from every step."""
    num_steps, num_envs = cost.shape
    labels = np.zeros(cost.shape, np.float32)
    known = np.zeros(cost.shape, bool)
    for n in range(num_envs):
        for t in range(num_steps):
            for k in range(horizon):
                if t + k == num_steps:  # the batch ends inside the window: nothing seen
                    break
                if cost[t + k, n] > 0:
                    labels[t, n], known[t, n] = 1.0, True
                    break
                if done[t + k, n]:  # the episode ends without cost inside the window
                    known[t, n] = True
                    break
            else:
                known[t, n] = True  # T steps of the same episode, none with cost
    return labels, known


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("horizon", [1, 3, 5])
def test_labels_match_a_plain_loop(seed, horizon):
    rng = np.random.default_rng(seed)
    cost = np.where(rng.random((30, 7)) < 0.15, rng.exponential(1.0, (30, 7)), 0.0)
    done = rng.random((30, 7)) < 0.1
    labels, known = unsafe_within(jnp.asarray(cost, jnp.float32), jnp.asarray(done), horizon)
    expected_labels, expected_known = _reference_labels(cost, done, horizon)
    np.testing.assert_array_equal(np.asarray(known), expected_known)
    np.testing.assert_array_equal(
        np.asarray(labels)[expected_known], expected_labels[expected_known]
    )
    assert horizon == 1 or not expected_known.all()  # some windows are cut by the batch end


def test_labels_hand_worked():
    #          t:  0  1  2  3  4  5  6
    cost = jnp.array([0, 0, 1, 0, 0, 0, 0], jnp.float32)[:, None]
    done = jnp.array([0, 0, 0, 1, 0, 0, 0], bool)[:, None]
    labels, known = unsafe_within(cost, done, 2)
    # t = 0: cost at 2 is 2 steps away (window {0, 1}); t = 1, 2: within; t = 3: the episode
    # ends at 3 without cost; t = 4: {4, 5} clear; t = 5: {5, 6} clear; t = 6: cut, unknown.
    np.testing.assert_array_equal(labels[:, 0], [0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(known[:, 0], [1, 1, 1, 1, 1, 1, 0])


def test_predictor_learns_the_probability_and_ignores_unknown_labels():
    rng = np.random.default_rng(0)
    observation = rng.normal(size=(4096, 3)).astype(np.float32)
    probability = 1 / (1 + np.exp(-3 * observation[:, 0]))
    labels = (rng.random(4096) < probability).astype(np.float32)
    known = rng.random(4096) < 0.8
    predictor = FaultPredictor((32,), learning_rate=1e-2, num_steps=300)
    state = predictor.init(jax.random.key(0), observation[0])
    # Unknown labels are garbage; fitting with or without those samples must agree.
    garbage = np.where(known, labels, 1.0 - labels)
    fitted, loss = jax.jit(predictor.fit)(state, observation, garbage, known)
    only_known, _ = jax.jit(predictor.fit)(
        state, observation[known], labels[known], np.ones(known.sum(), bool)
    )
    for a, b in zip(
        jax.tree.leaves(fitted.params), jax.tree.leaves(only_known.params), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    predicted = np.asarray(predictor.probability(fitted, observation))
    assert np.abs(predicted - probability).mean() < 0.05
    assert loss < 0.5


def test_margin_is_the_mean_episode_sum_for_a_renewal_batch():
    """P̄ · L̄ equals the mean per-episode Σ P when the batch holds whole episodes."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(3, 9, size=50)
    per_episode = [rng.random(length) for length in lengths]
    steps = np.concatenate(per_episode)
    margin = shaping_margin(jnp.asarray(steps), jnp.float32(0.5), jnp.float32(lengths.mean()))
    expected = 0.5 * np.mean([episode.sum() for episode in per_episode])
    np.testing.assert_allclose(margin, expected, rtol=1e-5)


def _shaped(name="cpo", coefficient=1.0):
    config = tiny_config(name, "PointCircle-v1", updates=4)
    config.env.kwargs.episode_length = 10
    config.algo.cost_limit = 1.0
    config.algo.cost_shaping.horizon = 3
    config.algo.cost_shaping.coefficient = coefficient
    return config


def test_the_constraint_sees_the_shaped_cost():
    config = _shaped(coefficient=0.7)
    env, env_params = jaxsafe_envs.make(config.env.name, **config.env.kwargs)
    algorithm, frame = cpo.make_frame(config, env, env_params)
    state = jax.jit(algorithm.init)(jax.random.key(0), algorithm.hyperparams)
    update = jax.jit(algorithm.update)
    for _ in range(2):  # a trained predictor, not the initial one
        state, _ = update(state)
    state, batch = jax.jit(lambda state: on_policy.collect(frame, state))(state)
    prepared = jax.jit(lambda state, batch: on_policy.prepare(frame, state, batch))(state, batch)
    predictor = FaultPredictor(
        config.algo.cost_shaping.hidden_sizes, config.algo.cost_shaping.learning_rate, 1
    )
    bonus = 0.7 * predictor.probability(state.fault_predictor, prepared.observation)
    raw = prepared.advantages
    assert raw.shape[0] == 3  # reward, cost, bonus
    shaping_stream = 2
    np.testing.assert_allclose(
        prepared.batch.advantages, np.stack([raw[0], raw[1] + raw[shaping_stream]]), rtol=1e-6
    )
    unshaped_mean, _, _ = prepared.estimates["segments"]
    length = prepared.moments[2]
    np.testing.assert_allclose(
        prepared.batch.mean_cost, unshaped_mean + np.mean(bonus) * length, rtol=1e-5
    )
    np.testing.assert_allclose(
        prepared.metrics["cost_shaping/margin"], np.mean(bonus) * length, rtol=1e-5
    )
    assert np.mean(bonus) > 0


@pytest.mark.parametrize("name", ["cpo", "ppo_lag"])  # trpo_lag shares cpo's shaped update
def test_stored_shaped_runs_log_the_shaping(name):
    """The shaped golden run (2 seeds, 3 updates) as stored; ``test_golden_runs.py`` trains it
    and checks that it reproduces these values bit for bit, so nothing is compiled here."""
    stored = load_golden()[f"{name}-shaped/PointCircle-v1"]["metrics"]
    metrics = {key: np.asarray(value, np.float32) for key, value in stored.items()}
    for key in (
        "cost_shaping/margin",
        "cost_shaping/unsafe_within_rate",
        "loss/fault_predictor",
        "loss/shaping_value",
    ):
        assert metrics[key].shape == (2, 3) and np.isfinite(metrics[key]).all(), key
    assert (metrics["cost_shaping/margin"] > 0).all()
    assert not np.allclose(metrics["loss/fault_predictor"][0], metrics["loss/fault_predictor"][1])
    if name == "ppo_lag":  # the multiplier's Ĵ is the shaped one, Ĵ_C + α P̄ L̄
        np.testing.assert_allclose(
            metrics["constraint/episode_cost"],
            metrics["episode/cost"] + metrics["cost_shaping/margin"],
            rtol=1e-5,
        )


def test_zero_coefficient_constrains_the_true_cost():
    _, metrics = jax.jit(make_train(_shaped("ppo_lag", coefficient=0.0)))(jax.random.key(1))
    metrics = jax.device_get(metrics)
    np.testing.assert_array_equal(metrics["cost_shaping/margin"], 0.0)
    np.testing.assert_allclose(metrics["constraint/episode_cost"], metrics["episode/cost"])


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("horizon", -1, "must be >= 0"),
        ("coefficient", -0.5, "must be >= 0"),
        ("num_steps", 0, "must be positive"),
    ],
)
def test_invalid_shaping_is_rejected(field, value, message):
    config = _shaped()
    config.algo.cost_shaping[field] = value
    with pytest.raises(ConfigError, match=rf"algo\.cost_shaping\.{field}.*{message}"):
        validate(config)


def test_shaping_needs_the_undiscounted_cost():
    config = _shaped()
    config.algo.cost_discount = 0.99
    with pytest.raises(ConfigError, match=r"algo\.cost_shaping\.horizon.*cost_discount = 1"):
        validate(config)
