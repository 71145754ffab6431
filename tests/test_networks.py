"""Networks: shapes, initialisation, and distributions against scipy/numpy formulas."""

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces
from scipy import special, stats

from jaxsafe.networks import (
    MLP,
    CategoricalPolicy,
    GaussianPolicy,
    ValueNetwork,
    make_policy,
)

OBS_SIZE = 5
HIDDEN = (16, 8)
ACTION_SIZE = 3
BATCH = (4, 2)


def observations(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), (*shape, OBS_SIZE))


def assert_orthogonal(kernel, gain):
    kernel = np.asarray(kernel)
    gram = kernel.T @ kernel if kernel.shape[0] >= kernel.shape[1] else kernel @ kernel.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-5 * max(1, gain**2))


def with_log_std(params, log_std):
    return {"params": {**params["params"], "log_std": jnp.asarray(log_std, jnp.float32)}}


@pytest.fixture(scope="module")
def gaussian():
    """A Gaussian policy, its initial parameters, and a jitted map to its statistics.

    The distribution itself is not returned from ``jit``: distrax's ``MultivariateNormalDiag``
    leaks tracers when it crosses a ``jit`` boundary (google-deepmind/distrax#230).
    """
    policy = GaussianPolicy(action_size=ACTION_SIZE, hidden_sizes=HIDDEN)
    params = policy.init(jax.random.key(0), observations((1,)))

    @jax.jit
    def statistics(params, observation, key):
        dist = policy.apply(params, observation)
        action = dist.sample(seed=key)
        return dist.mean(), dist.stddev(), action, dist.log_prob(action), dist.entropy()

    return policy, params, statistics


def test_mlp_shapes_and_orthogonal_init(gaussian):
    _, params, _ = gaussian
    layers = params["params"]["MLP_0"]  # the Gaussian mean network: MLP with output gain 0.01
    assert_orthogonal(layers["Dense_0"]["kernel"], np.sqrt(2))
    assert_orthogonal(layers["Dense_1"]["kernel"], np.sqrt(2))
    assert_orthogonal(layers["Dense_2"]["kernel"], 0.01)
    for layer in layers.values():
        np.testing.assert_array_equal(layer["bias"], 0.0)
    mlp = MLP(HIDDEN, ACTION_SIZE, output_scale=0.01)
    x = observations(BATCH)
    assert mlp.apply({"params": layers}, x).shape == (*BATCH, ACTION_SIZE)
    relu_mlp = MLP(HIDDEN, ACTION_SIZE, activation=jax.nn.relu, output_scale=0.01)
    assert not np.allclose(mlp.apply({"params": layers}, x), relu_mlp.apply({"params": layers}, x))


def test_gaussian_policy_shapes_and_state_independent_std(gaussian):
    policy, params, statistics = gaussian
    dist = policy.apply(params, observations(BATCH))
    assert isinstance(dist, distrax.MultivariateNormalDiag)
    assert dist.batch_shape == BATCH and dist.event_shape == (ACTION_SIZE,)
    assert params["params"]["log_std"].shape == (ACTION_SIZE,)
    assert_orthogonal(params["params"]["MLP_0"]["Dense_2"]["kernel"], 0.01)
    _, std, *_ = statistics(params, observations(BATCH), jax.random.key(0))
    np.testing.assert_allclose(std, np.exp(-0.5), rtol=1e-6)

    # Changing log σ changes the std at every state alike, and leaves the mean untouched.
    log_std = np.array([-1.0, 0.0, 0.5])
    for seed in (1, 2):
        start_mean, *_ = statistics(params, observations(BATCH, seed), jax.random.key(0))
        mean, std, *_ = statistics(
            with_log_std(params, log_std), observations(BATCH, seed), jax.random.key(0)
        )
        np.testing.assert_allclose(std, np.broadcast_to(np.exp(log_std), (*BATCH, ACTION_SIZE)))
        np.testing.assert_array_equal(mean, start_mean)


def test_gaussian_log_prob_entropy_against_scipy(gaussian):
    policy, params, statistics = gaussian
    params = with_log_std(params, np.full(ACTION_SIZE, 0.3))
    mean, _, actions, log_prob, entropy = statistics(params, observations(BATCH), jax.random.key(2))
    expected = stats.norm.logpdf(np.asarray(actions), np.asarray(mean), np.exp(0.3)).sum(-1)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)
    assert np.all(np.isfinite(entropy))
    np.testing.assert_allclose(
        entropy, ACTION_SIZE * stats.norm.entropy(scale=np.exp(0.3)), rtol=1e-5
    )
    # vmap over states gives the batched log-likelihood.
    log_prob_fn = lambda o, a: policy.apply(params, o).log_prob(a)
    np.testing.assert_allclose(
        jax.jit(jax.vmap(log_prob_fn))(observations(BATCH), actions), expected, rtol=1e-5
    )


def test_gaussian_kl_against_closed_form():
    rng = np.random.default_rng(0)
    mu_p, mu_q = rng.normal(size=(2, 5, 3)).astype(np.float32)
    sigma_p, sigma_q = np.exp(rng.normal(size=(2, 5, 3))).astype(np.float32)
    p = distrax.MultivariateNormalDiag(mu_p, sigma_p)
    q = distrax.MultivariateNormalDiag(mu_q, sigma_q)
    expected = np.sum(
        np.log(sigma_q / sigma_p) + (sigma_p**2 + (mu_p - mu_q) ** 2) / (2 * sigma_q**2) - 0.5,
        axis=-1,
    )
    np.testing.assert_allclose(p.kl_divergence(q), expected, rtol=1e-4, atol=1e-6)


def test_categorical_policy_against_numpy():
    policy = CategoricalPolicy(num_actions=4, hidden_sizes=HIDDEN)
    params = policy.init(jax.random.key(0), observations((1,)))
    dist = jax.jit(policy.apply)(params, observations(BATCH))
    assert isinstance(dist, distrax.Categorical) and dist.batch_shape == BATCH
    logits = np.asarray(dist.logits, np.float64)
    actions = np.array([[0, 1], [2, 3], [3, 0], [1, 1]])
    log_softmax = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    expected = np.take_along_axis(log_softmax, actions[..., None], -1)[..., 0]
    np.testing.assert_allclose(dist.log_prob(jnp.asarray(actions)), expected, rtol=1e-5)
    entropy = dist.entropy()
    np.testing.assert_allclose(entropy, -(np.exp(log_softmax) * log_softmax).sum(-1), rtol=1e-5)
    # Output gain 0.01: the initial policy is close to uniform.
    np.testing.assert_allclose(entropy, np.log(4), rtol=1e-2)


def test_value_network_is_scalar_per_input():
    critic = ValueNetwork(HIDDEN)
    params = critic.init(jax.random.key(0), observations((1,)))
    assert jax.jit(critic.apply)(params, observations(BATCH)).shape == BATCH
    assert critic.apply(params, observations(())).shape == ()
    assert_orthogonal(params["params"]["MLP_0"]["Dense_2"]["kernel"], 1.0)


def test_make_policy_picks_distribution_from_space():
    gaussian = make_policy(spaces.Box(-1.0, 1.0, (2,)), HIDDEN, initial_log_std=-1.0)
    assert isinstance(gaussian, GaussianPolicy)
    assert gaussian.action_size == 2 and gaussian.initial_log_std == -1.0
    categorical = make_policy(spaces.Discrete(4), HIDDEN)
    assert isinstance(categorical, CategoricalPolicy) and categorical.num_actions == 4
    with pytest.raises(ValueError):
        make_policy(spaces.Box(-1.0, 1.0, (2, 2)), HIDDEN)
    with pytest.raises(TypeError):
        make_policy(spaces.Dict({"a": spaces.Discrete(2)}), HIDDEN)
