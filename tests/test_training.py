"""make_train and the algorithms: purity, determinism, vmapping over seeds and hyper-parameters."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from golden_runs import golden_config

from jaxsafe.algorithms import ALGORITHMS
from jaxsafe.config import ConfigError
from jaxsafe.train import make_algorithm, make_train, num_updates, run_updates, train_function

ALGORITHM_NAMES = sorted(ALGORITHMS)


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_update_traces_once(name):
    """Three scanned updates of two vmapped seeds, traced twice: ``update`` is traced once.

    Tracing only, on the IcyLake golden run's config: ``tests/test_golden_runs.py`` trains that
    run and checks it (finite metrics, seeds that differ, every value bit for bit against the
    stored run), and checks that every registered algorithm has one.
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
    train.trace(keys)
    train.trace(keys)
    assert len(traces) == 1


def _lagrangian_config(make_tiny_config):
    """Tiny PPO-Lagrangian whose 3 updates all see finished episodes and move λ (sgd, lr 0.1).

    Both tests below compile its fused train (the key is an argument), so the session compiles
    it once.
    """
    config = make_tiny_config("ppo_lag")
    config.env.kwargs.max_steps_in_episode = 8  # every update sees finished episodes
    config.algo.lagrange_optimizer = "sgd"
    config.algo.lagrange_learning_rate = 0.1
    config.algo.cost_limit = 5.0
    return config


def test_chunked_updates_equal_the_fused_train(make_tiny_config):
    config = _lagrangian_config(make_tiny_config)
    algorithm = make_algorithm(config)
    key = jax.random.PRNGKey(3)
    fused_state, fused_metrics = jax.jit(make_train(config))(key)

    state = algorithm.init(key, algorithm.hyperparams)
    chunk = jax.jit(run_updates, static_argnums=(0, 2))
    chunks = []
    for count in (2, 1):
        state, metrics = chunk(algorithm, state, count)
        chunks.append(metrics)
    chunked_metrics = jax.tree.map(lambda *xs: jnp.concatenate(xs), *chunks)
    jax.tree.map(np.testing.assert_array_equal, fused_metrics, chunked_metrics)
    jax.tree.map(np.testing.assert_array_equal, fused_state, state)
    assert num_updates(config, algorithm) == 3


def test_one_program_trains_ppo_lag_at_several_cost_limits(make_tiny_config):
    config = _lagrangian_config(make_tiny_config)
    train = make_train(config)
    limits = jnp.array([0.0, 5.0, 1000.0])
    sweep = jax.jit(jax.vmap(lambda limit: train(jax.random.PRNGKey(0), cost_limit=limit)))
    states, metrics = sweep(limits)
    np.testing.assert_array_equal(states.hyperparams["cost_limit"], limits)
    multiplier = np.asarray(metrics["constraint/multiplier"][:, -1])
    # 8 random IcyLake steps cost about 14: the strict limits push λ up,
    # the loose one keeps it at 0. Each column equals the same limit trained on its own.
    assert multiplier[0] > multiplier[1] > 0.0 and multiplier[2] == 0.0
    _, alone = jax.jit(train)(jax.random.PRNGKey(0))  # config.algo.cost_limit = 5
    np.testing.assert_allclose(
        alone["constraint/multiplier"], metrics["constraint/multiplier"][1], rtol=1e-5
    )

    # Swept values are checked like the config's: concrete ones at once, traced ones when the
    # program runs (the same jitted program as above, so nothing new is compiled).
    with pytest.raises(ConfigError, match="config.algo.cost_limit = -1.0: must be >= 0"):
        train(jax.random.PRNGKey(0), cost_limit=-1.0)
    with pytest.raises(Exception, match="config.algo.cost_limit = -5.0: must be >= 0"):
        jax.block_until_ready(sweep(jnp.array([0.0, -5.0, 1000.0])))


def test_unknown_traced_hyperparameter_is_named(make_tiny_config):
    train = make_train(make_tiny_config("ppo"))
    with pytest.raises(ValueError, match="cost_limit"):
        train(jax.random.PRNGKey(0), cost_limit=1.0)
