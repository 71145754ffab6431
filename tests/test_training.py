"""make_train and the algorithms: purity, determinism, vmapping over seeds and hyper-parameters."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from golden_runs import golden_config

from jaxsafe.algorithms import ALGORITHMS
from jaxsafe.config import ConfigError
from jaxsafe.train import make_algorithm, make_train, num_updates, run_updates, train_function

ALGORITHM_NAMES = sorted(ALGORITHMS)


@functools.cache
def _two_seeds(name):
    """Two seeds trained as one program, twice; and how often ``update`` was traced.

    The program is the IcyLake golden run's (``tests/golden_runs.py``), so that the session's
    compilation cache compiles it once for both tests.
    """
    config = golden_config(f"{name}/IcyLake-v1")
    algorithm = make_algorithm(config)
    traces = []

    def counted_update(state):
        traces.append(1)
        return algorithm.update(state)

    counted = dataclasses.replace(algorithm, update=counted_update)
    train = jax.jit(jax.vmap(train_function(counted, num_updates(config, algorithm))))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    _, metrics = train(keys)
    _, again = train(keys)
    return jax.device_get(metrics), jax.device_get(again), len(traces)


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_two_vmapped_seeds_are_finite_different_and_reproducible(name):
    metrics, again, _ = _two_seeds(name)
    assert metrics["loss/policy"].shape[:2] == (2, 3)  # [seeds, updates(, flip's members)]
    for key, values in metrics.items():
        assert np.isfinite(values).all(), key
    assert not np.array_equal(metrics["loss/value"][0], metrics["loss/value"][1])
    jax.tree.map(np.testing.assert_array_equal, metrics, again)


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_update_traces_once(name):
    """Three scanned updates of two vmapped seeds, run twice: ``update`` is traced once."""
    assert _two_seeds(name)[2] == 1


def test_chunked_updates_equal_the_fused_train(make_tiny_config):
    config = make_tiny_config("ppo_lag", updates=5)
    algorithm = make_algorithm(config)
    key = jax.random.PRNGKey(3)
    fused_state, fused_metrics = jax.jit(make_train(config))(key)

    state = algorithm.init(key, algorithm.hyperparams)
    chunk = jax.jit(run_updates, static_argnums=(0, 2))
    chunks = []
    for count in (2, 2, 1):
        state, metrics = chunk(algorithm, state, count)
        chunks.append(metrics)
    chunked_metrics = jax.tree.map(lambda *xs: jnp.concatenate(xs), *chunks)
    jax.tree.map(np.testing.assert_array_equal, fused_metrics, chunked_metrics)
    jax.tree.map(np.testing.assert_array_equal, fused_state, state)
    assert num_updates(config, algorithm) == 5


def test_one_program_trains_ppo_lag_at_several_cost_limits(make_tiny_config):
    config = make_tiny_config("ppo_lag")
    config.env.kwargs.max_steps_in_episode = 8  # every update sees finished episodes
    config.algo.lagrange_optimizer = "sgd"
    config.algo.lagrange_learning_rate = 0.1
    train = make_train(config)
    limits = jnp.array([0.0, 5.0, 1000.0])
    states, metrics = jax.jit(
        jax.vmap(lambda limit: train(jax.random.PRNGKey(0), cost_limit=limit))
    )(limits)
    np.testing.assert_array_equal(states.hyperparams["cost_limit"], limits)
    multiplier = np.asarray(metrics["constraint/multiplier"][:, -1])
    # 8 random IcyLake steps cost about 14: the strict limits push λ up,
    # the loose one keeps it at 0. Each column equals the same limit trained on its own.
    assert multiplier[0] > multiplier[1] > 0.0 and multiplier[2] == 0.0
    _, alone = jax.jit(lambda: train(jax.random.PRNGKey(0), cost_limit=5.0))()
    np.testing.assert_allclose(
        alone["constraint/multiplier"], metrics["constraint/multiplier"][1], rtol=1e-5
    )

    # Swept values are checked like the config's: concrete ones at once, traced ones when the
    # program runs (the same program as above, so nothing new is compiled).
    with pytest.raises(ConfigError, match="config.algo.cost_limit = -1.0: must be >= 0"):
        train(jax.random.PRNGKey(0), cost_limit=-1.0)
    with pytest.raises(Exception, match="config.algo.cost_limit = -5.0: must be >= 0"):
        jax.block_until_ready(
            jax.jit(jax.vmap(lambda limit: train(jax.random.PRNGKey(0), cost_limit=limit)))(
                jnp.array([0.0, -5.0, 1000.0])
            )
        )


def test_unknown_traced_hyperparameter_is_named(make_tiny_config):
    train = make_train(make_tiny_config("ppo"))
    with pytest.raises(ValueError, match="cost_limit"):
        train(jax.random.PRNGKey(0), cost_limit=1.0)
