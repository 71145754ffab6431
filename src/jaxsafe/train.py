"""``make_train(config) -> train(key)``: a whole training run as one pure, jittable function.

``jax.jit(jax.vmap(train))(keys)`` trains several seeds as one program, and hyper-parameters
passed to ``train`` as (traced) keyword arguments can be vmapped too::

    train = make_train(config)                    # config.algo.name == "ppo_lag"
    limits = jnp.array([5.0, 10.0, 20.0])
    states, metrics = jax.jit(jax.vmap(lambda d: train(key, cost_limit=d)))(limits)

The host loop of :mod:`jaxsafe.run` calls the same ``init`` and ``update`` in chunks
(:func:`run_updates`), so a chunked run and the fused ``train`` give identical results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS, Algorithm
from jaxsafe.config import ConfigError, validate


def make_algorithm(config: ml_collections.ConfigDict) -> Algorithm:
    """The configured algorithm on the configured environment (after :func:`validate`)."""
    validate(config)
    env, env_params = jaxsafe_envs.make(config.env.name, **config.env.kwargs)
    return ALGORITHMS[config.algo.name].make(config, env, env_params)


def num_updates(config: ml_collections.ConfigDict, algorithm: Algorithm) -> int:
    """Updates in a run of ``config.total_timesteps`` environment steps (rounded down)."""
    return config.total_timesteps // algorithm.steps_per_update


def run_updates(algorithm: Algorithm, state: Any, count: int) -> tuple[Any, dict[str, jax.Array]]:
    """``count`` updates from ``state``; the metrics are stacked along a leading axis."""
    return jax.lax.scan(lambda state, _: algorithm.update(state), state, None, count)


def hyperparams_with(algorithm: Algorithm, overrides: dict[str, Any]) -> dict[str, jax.Array]:
    """The algorithm's hyper-parameters with ``overrides`` (possibly traced) put in."""
    unknown = sorted(set(overrides) - set(algorithm.hyperparams))
    if unknown:
        raise ConfigError(
            f"unknown traced hyper-parameter(s) {unknown}; valid: {sorted(algorithm.hyperparams)}"
        )
    return {
        name: jnp.asarray(overrides.get(name, value), jnp.float32)
        for name, value in algorithm.hyperparams.items()
    }


def make_train(config: ml_collections.ConfigDict) -> Callable[..., tuple[Any, dict]]:
    """``train(key, **hyperparams) -> (final_state, metrics)`` for ``config``.

    Args:
        config: a run config (see :mod:`jaxsafe.config`); validated here, before compiling.

    Returns:
        A pure function of a PRNG key (and of optional traced hyper-parameters such as
        ``cost_limit``) that runs every update of the run; ``metrics`` has a leading
        ``[num_updates]`` axis.
    """
    algorithm = make_algorithm(config)
    return train_function(algorithm, num_updates(config, algorithm))


def train_function(algorithm: Algorithm, updates: int) -> Callable[..., tuple[Any, dict]]:
    """``train(key, **hyperparams)``: ``algorithm.init`` then ``updates`` scanned updates.

    :func:`make_train` for an algorithm object that is already built (e.g. a wrapped one).
    """

    def train(key: jax.Array, **hyperparams: Any) -> tuple[Any, dict[str, jax.Array]]:
        state = algorithm.init(key, hyperparams_with(algorithm, hyperparams))
        return run_updates(algorithm, state, updates)

    return train
