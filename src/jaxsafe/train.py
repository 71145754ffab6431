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

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS, Algorithm
from jaxsafe.config import ConfigError, validate, validate_hyperparams


def make_algorithm(config: ml_collections.ConfigDict) -> Algorithm:
    """The configured algorithm on the configured environment (after :func:`validate`).

    Raises:
        ConfigError: for an invalid config, or environment options the environment rejects.
    """
    validate(config)
    try:
        env, env_params = jaxsafe_envs.make(config.env.name, **config.env.kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"config.env.kwargs = {config.env.kwargs.to_dict()}: {error}") from None
    return ALGORITHMS[config.algo.name].make(config, env, env_params)


def num_updates(config: ml_collections.ConfigDict, algorithm: Algorithm) -> int:
    """Updates in a run of ``config.total_timesteps`` environment steps (rounded down)."""
    return config.total_timesteps // algorithm.steps_per_update


def run_updates(algorithm: Algorithm, state: Any, count: int) -> tuple[Any, dict[str, jax.Array]]:
    """``count`` updates from ``state``; the metrics are stacked along a leading axis."""
    return jax.lax.scan(lambda state, _: algorithm.update(state), state, None, count)


def run_some_updates(
    algorithm: Algorithm, state: Any, count: jax.Array, capacity: int
) -> tuple[Any, dict[str, jax.Array]]:
    """The first ``count`` (traced, at most ``capacity``) updates from ``state``.

    One compiled program serves every chunk of a run, the last, shorter one included. The
    metrics have a leading ``[capacity]`` axis whose rows past ``count`` are zeros. Each
    update is the same computation as in :func:`run_updates`, so the results are identical.
    """
    update = jax.jit(algorithm.update)  # traced once, for the metrics' shapes and the loop
    metric_shapes = jax.eval_shape(update, state)[1]
    metrics = jax.tree.map(lambda m: jnp.zeros((capacity, *m.shape), m.dtype), metric_shapes)

    def one_update(index, carry):
        state, metrics = carry
        state, new = update(state)
        return state, jax.tree.map(lambda rows, row: rows.at[index].set(row), metrics, new)

    return jax.lax.fori_loop(0, count, one_update, (state, metrics))


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
        ``[num_updates]`` axis. Hyper-parameter values are checked like the config's
        (:func:`jaxsafe.config.validate_hyperparams`): concrete ones at once, traced ones (a
        vmapped sweep) when the program runs, which then fails with the message.
    """
    algorithm = make_algorithm(config)
    return train_function(
        algorithm, num_updates(config, algorithm), functools.partial(validate_hyperparams, config)
    )


def train_function(
    algorithm: Algorithm,
    updates: int,
    check_hyperparams: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[..., tuple[Any, dict]]:
    """``train(key, **hyperparams)``: ``algorithm.init`` then ``updates`` scanned updates.

    :func:`make_train` for an algorithm object that is already built (e.g. a wrapped one);
    ``check_hyperparams`` (if given) checks the hyper-parameters passed to ``train``.
    """

    def train(key: jax.Array, **hyperparams: Any) -> tuple[Any, dict[str, jax.Array]]:
        values = hyperparams_with(algorithm, hyperparams)
        if check_hyperparams is not None and hyperparams:
            if any(isinstance(value, jax.core.Tracer) for value in hyperparams.values()):
                jax.debug.callback(check_hyperparams, hyperparams)
            else:
                check_hyperparams(hyperparams)
        state = algorithm.init(key, values)
        return run_updates(algorithm, state, updates)

    return train
