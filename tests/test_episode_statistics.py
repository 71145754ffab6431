"""Episode statistics against a plain Python loop over random rollouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe import episode_statistics

GAMMA, COST_GAMMA = 0.9, 0.8


def reference_episodes(rewards, costs, entered, dones):
    """Per-environment lists of finished episodes' totals, from the definitions."""
    num_steps, num_envs = rewards.shape
    finished = []
    for env in range(num_envs):
        start = 0
        for t in range(num_steps):
            if dones[t, env]:
                span = slice(start, t + 1)
                powers = np.arange(t + 1 - start)
                finished.append(
                    {
                        "return": rewards[span, env].sum(),
                        "discounted_return": (GAMMA**powers * rewards[span, env]).sum(),
                        "cost": costs[span, env].sum(),
                        "discounted_cost": (COST_GAMMA**powers * costs[span, env]).sum(),
                        "length": t + 1 - start,
                        "entered_ice": entered[span, env].sum(),
                    }
                )
                start = t + 1
    return finished


def random_rollout(seed, num_steps, num_envs, done_probability):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        rng.exponential(size=(num_steps, num_envs)).astype(np.float32),
        rng.random((num_steps, num_envs)) < 0.3,
        rng.random((num_steps, num_envs)) < done_probability,
    )


@jax.jit
def scan_rollout(rewards, costs, entered, dones):
    def body(acc, step_data):
        reward, cost, entered_t, done = step_data
        info = {"entered_ice": entered_t, "cost": cost}  # extra info keys are ignored
        return episode_statistics.step(acc, reward, cost, info, done, GAMMA, COST_GAMMA)

    acc = episode_statistics.init(rewards.shape[1], ["entered_ice"])
    return jax.lax.scan(body, acc, (rewards, costs, entered, dones))


@pytest.mark.parametrize("seed", range(3))
def test_records_match_python_loop(seed):
    rollout = random_rollout(seed, num_steps=40, num_envs=4, done_probability=0.15)
    _, records = scan_rollout(*(jnp.asarray(x) for x in rollout))
    assert records.episode_return.shape == (40, 4)
    done = np.asarray(records.done)
    # Episodes come out in (time, env) order; order the reference per (env, time) to compare.
    env_major = lambda x: np.asarray(x).T[done.T]
    expected = reference_episodes(*rollout)
    assert done.sum() == len(expected) > 4  # several episodes per environment
    for key, field in [
        ("return", records.episode_return),
        ("discounted_return", records.discounted_return),
        ("cost", records.episode_cost),
        ("discounted_cost", records.discounted_cost),
        ("length", records.length),
        ("entered_ice", records.counters["entered_ice"]),
    ]:
        np.testing.assert_allclose(
            env_major(field), [e[key] for e in expected], rtol=1e-5, atol=1e-5, err_msg=key
        )

    summary = jax.jit(episode_statistics.summarize)(records)
    assert set(summary) == {
        "episode/return",
        "episode/discounted_return",
        "episode/cost",
        "episode/discounted_cost",
        "episode/length",
        "episode/entered_ice",
        "episode/count",
    }
    assert summary["episode/count"] == len(expected)
    for key in ["return", "discounted_return", "cost", "discounted_cost", "length", "entered_ice"]:
        np.testing.assert_allclose(
            summary[f"episode/{key}"], np.mean([e[key] for e in expected]), rtol=1e-5
        )


def test_accumulator_carries_unfinished_episodes_across_calls():
    rollout = random_rollout(5, num_steps=30, num_envs=3, done_probability=0.1)
    whole_acc, whole = scan_rollout(*(jnp.asarray(x) for x in rollout))

    def body(acc, step_data):
        reward, cost, entered_t, done = step_data
        return episode_statistics.step(
            acc, reward, cost, {"entered_ice": entered_t}, done, GAMMA, COST_GAMMA
        )

    acc = episode_statistics.init(3, ["entered_ice"])
    halves = []
    for part in (slice(0, 13), slice(13, 30)):
        acc, records = jax.lax.scan(body, acc, tuple(jnp.asarray(x[part]) for x in rollout))
        halves.append(records)
    joined = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), *halves)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), joined, whole)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), acc, whole_acc)


def test_no_finished_episode_is_nan_free():
    rollout = random_rollout(1, num_steps=10, num_envs=2, done_probability=0.0)
    acc, records = scan_rollout(*(jnp.asarray(x) for x in rollout))
    summary = episode_statistics.summarize(records)
    assert summary["episode/count"] == 0
    for value in summary.values():
        assert value == 0.0
    rewards, costs = rollout[0], rollout[1]
    np.testing.assert_allclose(acc.episode_return, rewards.sum(0), rtol=1e-5)
    np.testing.assert_allclose(acc.episode_cost, costs.sum(0), rtol=1e-5)
    np.testing.assert_allclose(acc.discount_factor, GAMMA**10, rtol=1e-5)
    np.testing.assert_array_equal(acc.length, 10)


def test_sums_restart_after_done():
    acc = episode_statistics.init(2)
    ones, done = jnp.ones(2), jnp.array([True, False])
    acc, record = episode_statistics.step(acc, ones, 2 * ones, {}, done, GAMMA, COST_GAMMA)
    np.testing.assert_allclose(record.episode_return, [1.0, 1.0])
    np.testing.assert_allclose(acc.episode_return, [0.0, 1.0])
    np.testing.assert_allclose(acc.discount_factor, [1.0, GAMMA])
    np.testing.assert_allclose(acc.cost_discount_factor, [1.0, COST_GAMMA])
    np.testing.assert_array_equal(acc.length, [0, 1])
    assert episode_statistics.summarize(record) == pytest.approx(
        {
            "episode/return": 1.0,
            "episode/discounted_return": 1.0,
            "episode/cost": 2.0,
            "episode/discounted_cost": 2.0,
            "episode/length": 1.0,
            "episode/count": 1.0,
        }
    )


def test_rejects_counter_names_that_clash():
    with pytest.raises(ValueError):
        episode_statistics.init(2, ["cost"])


def test_cost_exceedance_is_the_fraction_of_episodes_at_or_above_the_threshold():
    rollout = random_rollout(7, num_steps=40, num_envs=4, done_probability=0.15)
    _, records = scan_rollout(*(jnp.asarray(x) for x in rollout))
    costs = np.array([e["discounted_cost"] for e in reference_episodes(*rollout)])
    threshold = float(np.median(costs))  # about half of the episodes reach it
    summary = jax.jit(episode_statistics.summarize, static_argnums=1)(records, threshold)
    expected = np.mean(costs >= threshold)
    assert 0.0 < expected < 1.0
    np.testing.assert_allclose(summary["episode/cost_exceedance"], expected, rtol=1e-6)
