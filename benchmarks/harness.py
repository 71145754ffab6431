"""What the training benchmarks share: configs of a point, ``--set`` overrides, the programs.

``train_throughput.py`` and ``update_split.py`` build an algorithm the same way
(:func:`point_config`: the environment's preset, ``--set KEY=VALUE`` overrides, then N, T and the
minibatches), start from the same states (:func:`initial_states`) and time the same rollout-only
program (:func:`rollout_program`), which acts only through the algorithm's public
:class:`~jaxsafe.policy.Policy`; output goes through ``reporting.py``.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import reporting

from jaxsafe import rollout
from jaxsafe.algorithms import ALGORITHMS, Algorithm
from jaxsafe.config import make_config
from jaxsafe.train import hyperparams_with, run_updates

BRAX_ENVS = frozenset({"AntCircle-v1", "EcoAnt-v1", "EcoAnt-v2"})
State = Any
Program = Callable[[State], tuple[State, Any]]


def has_phases(algo: str) -> bool:
    """Whether ``algo`` runs on the on-policy frame (its module's ``make_frame`` exposes the
    phases collect, prepare, policy update and critics; trpo_lag, cpo, varcpo, cppo)."""
    return hasattr(ALGORITHMS[algo], "make_frame")


def fit_minibatches(batch_size: int, preferred: int) -> int:
    """The largest divisor of ``batch_size`` that is at most ``preferred``: the minibatches."""
    return max(m for m in range(1, min(preferred, batch_size) + 1) if batch_size % m == 0)


def algo_label(point: Any) -> str:
    """The algo column: the algorithm, and the overrides it was measured with."""
    return f"{point.algo} ({point.variant})" if point.variant else point.algo


def add_override_flag(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE``: a config field changed after the env preset (repeatable)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a config field after the preset, e.g. algo.cost_shaping.horizon=5; the "
        "value is a Python literal (else a string); repeatable",
    )


class OverrideError(ValueError):
    """A ``--set`` flag that cannot apply; it stops the run instead of skipping a point."""


SWEPT_KEYS = {
    "algo.num_envs": "--num-envs",
    "algo.num_steps": "--num-steps",
    "algo.num_minibatches": "--num-minibatches",
    "total_timesteps": "(set from the batch)",
}
"""Config fields the benchmark sets itself, and the flag that sets them."""


def parse_overrides(texts: Sequence[str]) -> dict[str, Any]:
    """``--set`` texts as {dotted config key: value}, sorted by key."""
    overrides: dict[str, Any] = {}
    for text in texts:
        key, separator, value = text.partition("=")
        if not separator or not key:
            raise OverrideError(f"--set takes KEY=VALUE, got {text!r}")
        if key in SWEPT_KEYS:
            raise OverrideError(f"--set {key}: the benchmark sets it; use {SWEPT_KEYS[key]}")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return dict(sorted(overrides.items()))


def variant_label(args: argparse.Namespace) -> str:
    """The overrides a point was measured with, as its table rows show them (parsed and
    sorted, so that spellings of the same overrides share rows)."""
    return ", ".join(f"{key}={value!r}" for key, value in parse_overrides(args.overrides).items())


def point_config(
    algo: str, env: str, num_envs: int, args: argparse.Namespace
) -> ml_collections.ConfigDict:
    """The preset config of ``algo`` on ``env`` with the ``--set`` overrides, then N (and T,
    minibatches) overridden."""
    kwargs = {"backend": args.backend} if env in BRAX_ENVS and args.backend else {}
    config = make_config(algo, env, **kwargs)
    config.lock()  # an override may change a field, never add one
    for key, value in parse_overrides(args.overrides).items():
        try:
            config.update_from_flattened_dict({key: value})
        except (KeyError, AttributeError, TypeError, ValueError) as error:
            raise OverrideError(f"--set {key}: {error}") from error
    config.unlock()
    config.algo.num_envs = num_envs
    if args.num_steps:
        config.algo.num_steps = args.num_steps
    batch_size = num_envs * config.algo.num_steps
    preferred = args.num_minibatches or config.algo.num_minibatches
    config.algo.num_minibatches = fit_minibatches(batch_size, preferred)
    config.total_timesteps = max(config.total_timesteps, batch_size)
    return config


def initial_states(algorithm: Algorithm, num_seeds: int, seed: int) -> State:
    """``S`` initial training states, as the host loop makes them, with strong types.

    Weak types are made strong so the state a call returns has the avals of the one it took.
    """
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    init = jax.jit(jax.vmap(algorithm.init, in_axes=(0, None)))
    states = init(keys, hyperparams_with(algorithm, {}))
    return jax.block_until_ready(jax.tree.map(lambda leaf: jnp.asarray(leaf, leaf.dtype), states))


def train_program(algorithm: Algorithm, updates: int) -> Program:
    """``states -> (states, metrics)``: ``updates`` full updates of every seed."""
    return jax.jit(jax.vmap(lambda state: run_updates(algorithm, state, updates)))


def _checksum(tree: Any) -> jax.Array:
    """A scalar that depends on every leaf of ``tree``."""
    return sum(jnp.sum(leaf.astype(jnp.float32)) for leaf in jax.tree.leaves(tree))


def rollout_program(
    config: ml_collections.ConfigDict, algorithm: Algorithm, updates: int
) -> Callable[[State, RolloutCarry], tuple[RolloutCarry, jax.Array]]:
    """``(states, carries) -> (carries, checksum)``: only the rollouts of ``updates`` updates.

    Every seed acts with ``algorithm.policy(state)`` (the public policy that ``update`` samples
    from: the same network, parameters and observation normaliser, which stay fixed) in the
    environment the algorithm acts in, from the benchmark's own environments and key
    (:func:`rollout_carries`), which advance as in training; every field of the trajectory and
    the episode records is folded into a checksum.
    """
    algo = config.algo
    env, env_params = algorithm.env, algorithm.env_params

    def one_seed(state: State, carry: RolloutCarry) -> tuple[RolloutCarry, jax.Array]:
        policy = algorithm.policy(state)

        def one_rollout(carry: RolloutCarry, _: None) -> tuple[RolloutCarry, jax.Array]:
            key, key_rollout = jax.random.split(carry.key)
            runner, trajectory, records = rollout.collect(
                env,
                env_params,
                policy,
                carry.runner,
                key_rollout,
                algo.num_steps,
                algo.discount,
                algo.cost_discount,
            )
            return RolloutCarry(runner, key), _checksum((trajectory, records))

        carry, sums = jax.lax.scan(one_rollout, carry, None, updates)
        return carry, sums.sum()

    return jax.jit(jax.vmap(one_seed))


class RolloutCarry(NamedTuple):
    """What the rollout-only program advances: the environments and a key, per seed."""

    runner: rollout.RunnerState
    key: jax.Array


def rollout_carries(
    config: ml_collections.ConfigDict, algorithm: Algorithm, states: State, seed: int
) -> RolloutCarry:
    """``S`` freshly reset sets of ``num_envs`` environments, with the policies' initial carries,
    and keys, for :func:`rollout_program`."""
    env, env_params = algorithm.env, algorithm.env_params
    counter_names = rollout.episode_counter_names(env, env_params)
    num_seeds = jax.tree.leaves(states)[0].shape[0]

    def one_seed(state: State, key: jax.Array) -> RolloutCarry:
        key_env, key_carry, key = jax.random.split(key, 3)
        policy_carry = algorithm.policy(state).init_carry(key_carry, config.algo.num_envs)
        runner = rollout.reset(
            env, env_params, key_env, config.algo.num_envs, counter_names, policy_carry
        )
        return RolloutCarry(runner, key)

    keys = jax.random.split(jax.random.PRNGKey(seed + 1), num_seeds)
    return jax.block_until_ready(jax.jit(jax.vmap(one_seed))(states, keys))


def report_header() -> dict[str, str]:
    """What the numbers were measured on."""
    return reporting.device_header({"brax": importlib.metadata.version("brax")})
