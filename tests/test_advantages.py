"""GAE against a plain Python loop and hand-worked numbers, under jit and vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsafe.advantages import (
    gae_over_environments,
    generalized_advantage_estimation,
    lambda_returns,
    standardize,
)


def reference_gae(rewards, values, next_values, terminated, truncated, discount, gae_lambda):
    """Backward loop over one trajectory, written from the definition."""
    advantages = np.zeros(len(rewards))
    next_advantage = 0.0
    for t in reversed(range(len(rewards))):
        # γ = 1: the return is the episode's finite sum; a time limit ends it too.
        ends_return = terminated[t] or (truncated[t] and discount >= 1.0)
        bootstrap = 0.0 if ends_return else next_values[t]
        delta = rewards[t] + discount * bootstrap - values[t]
        if terminated[t] or truncated[t]:
            next_advantage = 0.0
        advantages[t] = delta + discount * gae_lambda * next_advantage
        next_advantage = advantages[t]
    return advantages


def random_slice(rng, length, shape_tail=()):
    shape = (length, *shape_tail)
    return (
        rng.normal(size=shape).astype(np.float32),
        rng.normal(size=shape).astype(np.float32),
        rng.normal(size=shape).astype(np.float32),
        rng.random(shape) < 0.2,
        rng.random(shape) < 0.2,
    )


def gae(rewards, values, next_values, terminated, truncated, discount, gae_lambda):
    return generalized_advantage_estimation(
        jnp.asarray(rewards, jnp.float32),
        jnp.asarray(values, jnp.float32),
        jnp.asarray(next_values, jnp.float32),
        jnp.asarray(terminated),
        jnp.asarray(truncated),
        discount,
        gae_lambda,
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("discount", "gae_lambda"), [(0.99, 0.95), (0.9, 0.5), (1.0, 1.0)])
def test_matches_python_loop(seed, discount, gae_lambda):
    rng = np.random.default_rng(seed)
    data = random_slice(rng, 50)
    terminated, truncated = data[3], data[4]
    terminated[[5, 17]] = True  # both flags at once: termination wins the bootstrap
    truncated[[5, 17, 30]] = True
    np.testing.assert_allclose(
        gae(*data, discount, gae_lambda),
        reference_gae(*data, discount, gae_lambda),
        rtol=1e-5,
        atol=1e-5,
    )


def test_hand_worked_truncation_bootstraps_from_next_value():
    # t=0: δ = 1 + 0.5·2 − 0 = 2, the chain is cut by the truncation.
    # t=1: δ = 1 + 0.5·4 − 0 = 3 (batch cut bootstraps from next_values[1]).
    advantages = gae([1, 1], [0, 0], [2, 4], [False, False], [True, False], 0.5, 1.0)
    np.testing.assert_allclose(advantages, [2.0, 3.0])


def test_undiscounted_truncation_ends_the_finite_sum_but_the_batch_cut_bootstraps():
    # γ = 1, t=0 truncated: δ = 1 + 0 − 0 = 1 (no bootstrap); t=1 at the batch cut: δ = 1 + 4.
    advantages = gae([1, 1], [0, 0], [2, 4], [False, False], [True, False], 1.0, 1.0)
    np.testing.assert_allclose(advantages, [1.0, 5.0])


def test_hand_worked_termination_bootstraps_zero_and_cuts_chain():
    # t=1 terminates: δ = 1 − 1 = 0; t=0: δ = 1 + 0.5·3 − 2 = 0.5, A = 0.5 + 0.5·1·0 = 0.5.
    advantages = gae([1, 1], [2, 1], [3, 7], [False, True], [False, False], 0.5, 1.0)
    np.testing.assert_allclose(advantages, [0.5, 0.0])
    # Termination and truncation together: still bootstraps with 0.
    both = gae([1, 1], [2, 1], [3, 7], [False, True], [False, True], 0.5, 1.0)
    np.testing.assert_allclose(both, [0.5, 0.0])


def test_hand_worked_chain_is_cut_at_either_flag():
    rewards, values, next_values = [1, 2, 3], [0, 0, 0], [0, 0, 0]
    none = [False, False, False]
    # No flags, γ = λ = 1: A_t = Σ_{l ≥ t} r_l.
    np.testing.assert_allclose(gae(rewards, values, next_values, none, none, 1.0, 1.0), [6, 5, 3])
    cut = [False, True, False]
    np.testing.assert_allclose(gae(rewards, values, next_values, cut, none, 1.0, 1.0), [3, 2, 3])
    np.testing.assert_allclose(gae(rewards, values, next_values, none, cut, 1.0, 1.0), [3, 2, 3])


def test_lambda_zero_gives_td_errors_and_discount_zero_gives_rewards_minus_values():
    rng = np.random.default_rng(7)
    rewards, values, next_values, terminated, truncated = random_slice(rng, 20)
    td_errors = rewards + 0.9 * (1 - terminated) * next_values - values
    np.testing.assert_allclose(
        gae(rewards, values, next_values, terminated, truncated, 0.9, 0.0), td_errors, atol=1e-6
    )
    np.testing.assert_allclose(
        gae(rewards, values, next_values, terminated, truncated, 0.0, 0.7),
        rewards - values,
        atol=1e-6,
    )


def test_lambda_one_gives_bootstrapped_monte_carlo_return():
    rng = np.random.default_rng(8)
    rewards, values, next_values, _, _ = random_slice(rng, 15)
    next_values[:-1] = values[1:]  # one episode: V(s'_t) = V(s_{t+1}) telescopes away
    flags = np.zeros(15, bool)
    discount = 0.9
    returns = np.zeros(15)
    running = next_values[-1]
    for t in reversed(range(15)):
        running = rewards[t] + discount * running
        returns[t] = running
    advantages = gae(rewards, values, next_values, flags, flags, discount, 1.0)
    np.testing.assert_allclose(advantages, returns - values, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lambda_returns(advantages, jnp.asarray(values)), returns, rtol=1e-5)


def test_jit_and_vmap_over_environments():
    rng = np.random.default_rng(3)
    length, num_envs = 12, 5
    data = random_slice(rng, length, (num_envs,))
    batched = jax.jit(
        jax.vmap(generalized_advantage_estimation, in_axes=(1, 1, 1, 1, 1, None, None), out_axes=1)
    )
    advantages = batched(*(jnp.asarray(x) for x in data), 0.99, jnp.float32(0.95))
    assert advantages.shape == (length, num_envs)
    for env in range(num_envs):
        expected = reference_gae(*(x[:, env] for x in data), 0.99, 0.95)
        np.testing.assert_allclose(advantages[:, env], expected, rtol=1e-5, atol=1e-5)


def test_discount_and_lambda_can_be_vmapped():
    rng = np.random.default_rng(4)
    data = [jnp.asarray(x) for x in random_slice(rng, 10)]
    discounts = jnp.array([0.0, 0.5, 0.99])
    lambdas = jnp.array([1.0, 0.3, 0.95])
    sweep = jax.jit(
        jax.vmap(lambda g, lam: generalized_advantage_estimation(*data, g, lam), in_axes=(0, 0))
    )(discounts, lambdas)
    for i in range(3):
        expected = reference_gae(*(np.asarray(x) for x in data), discounts[i], lambdas[i])
        np.testing.assert_allclose(sweep[i], expected, rtol=1e-5, atol=1e-5)


def test_rejects_mismatched_shapes():
    with pytest.raises(AssertionError):
        gae([1.0, 2.0], [0.0], [0.0, 0.0], [False, False], [False, False], 0.9, 0.9)


def test_gae_over_environments_equals_each_environment_alone():
    rng = np.random.default_rng(11)
    data = random_slice(rng, 30, (4,))
    batched = gae_over_environments(*(jnp.asarray(x) for x in data), 0.99, 0.9)
    for env in range(4):
        alone = reference_gae(*(x[:, env] for x in data), 0.99, 0.9)
        np.testing.assert_allclose(batched[:, env], alone, rtol=1e-5, atol=1e-5)


def test_standardize_matches_numpy():
    x = np.random.default_rng(12).normal(3.0, 5.0, size=(16, 8)).astype(np.float32)
    np.testing.assert_allclose(
        standardize(jnp.asarray(x)), (x - x.mean()) / (x.std() + 1e-8), atol=1e-5
    )
