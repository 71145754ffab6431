"""Golden runs: tiny trainings of every algorithm whose results must not change by accident.

Each run trains 2 vmapped seeds for 3 small updates with :func:`jaxsafe.train.make_train` and is
reduced to a *fingerprint*:

- every leaf of the final training state as ``(shape, dtype, sha256 of its bytes)``, with its
  path in the state for messages. The comparison is a multiset inclusion, independent of how the
  state is organised: a refactor may rename, regroup or add state, but every stored array must
  still be found, bit for bit, somewhere in the new state;
- every logged metric ``[seeds, updates]`` as exact float32 values.

The stored fingerprints live in ``tests/golden/runs.json``; ``python tests/regenerate_golden.py``
rewrites them. Regenerate only for a deliberate numerical change, in its own commit, with a
before/after learning check in its message (see README "Development").
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxsafe.config import make_config
from jaxsafe.train import make_train

GOLDEN_FILE = Path(__file__).parent / "golden" / "runs.json"
NUM_SEEDS = 2
NUM_UPDATES = 3

ALGORITHMS = ("ppo", "ppo_lag", "cvar_ppo", "trpo_lag", "cpo", "varcpo", "cppo")
ENVIRONMENTS = ("IcyLake-v1", "PointCircle-v1")
EXTRA_RUNS = {
    # name: (algorithm, environment, extra overrides)
    "cpo-shaped/PointCircle-v1": ("cpo", "PointCircle-v1", {"algo.cost_shaping.horizon": 5}),
    "ppo_lag-shaped/PointCircle-v1": (
        "ppo_lag",
        "PointCircle-v1",
        {"algo.cost_shaping.horizon": 5},
    ),
    "varcpo-adaptive/IcyLake-v1": ("varcpo", "IcyLake-v1", {"algo.max_kl_mode": "adaptive"}),
    "cvar_ppo-top_k/IcyLake-v1": ("cvar_ppo", "IcyLake-v1", {"algo.variant": "top_k"}),
    "flip/IcyLake-v1": ("flip", "IcyLake-v1", {"algo.cost_limits": (1.0, 10.0)}),
    # csc is not in ALGORITHMS (one golden run only); test_training.py traces its config.
    "csc/IcyLake-v1": (
        "csc",
        "IcyLake-v1",
        {
            "algo.rejection_candidates": 8,
            "algo.safety_critic_steps": 4,
            "algo.safety_critic_batch_size": 32,
            "algo.replay_capacity": 512,
        },
    ),
}


def run_names() -> list[str]:
    names = [f"{algo}/{env}" for env in ENVIRONMENTS for algo in ALGORITHMS]
    return names + list(EXTRA_RUNS)


def golden_config(name: str):
    """The config of golden run ``name`` ("algo/env" or one of :data:`EXTRA_RUNS`)."""
    if name in EXTRA_RUNS:
        algo_name, env_name, overrides = EXTRA_RUNS[name]
    else:
        algo_name, env_name = name.split("/")
        overrides = {}
    env_kwargs = {"episode_length": 20} if env_name == "PointCircle-v1" else {}
    if env_name == "IcyLake-v1":
        env_kwargs = {"max_steps_in_episode": 20}
    config = make_config(algo_name, env_name, **env_kwargs)
    algo = config.algo
    algo.num_envs, algo.num_steps = 4, 32
    algo.num_epochs, algo.num_minibatches = 2, 2
    algo.hidden_sizes = (16, 16)
    config.total_timesteps = NUM_UPDATES * algo.num_envs * algo.num_steps
    config.num_seeds = NUM_SEEDS
    for field, value in overrides.items():
        section, _, leaf = field.rpartition(".")
        node = config
        for part in section.split("."):
            node = node[part]
        node[leaf] = value
    return config


def train_golden(name: str) -> tuple[Any, dict[str, np.ndarray]]:
    """The final state and metrics ``{name: [seeds, updates]}`` of golden run ``name``."""
    config = golden_config(name)
    train = make_train(config)
    keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
    state, metrics = jax.jit(jax.vmap(train))(keys)
    return jax.device_get(state), jax.device_get(metrics)


def _leaf_bytes(leaf: Any) -> np.ndarray:
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.ascontiguousarray(np.asarray(leaf))


def fingerprint(state: Any, metrics: dict[str, np.ndarray]) -> dict[str, Any]:
    """The stored form of a run: its state's leaves by content and its metrics."""
    leaves = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        array = _leaf_bytes(leaf)
        leaves.append(
            {
                "path": jax.tree_util.keystr(path),
                "shape": list(array.shape),
                "dtype": str(array.dtype),
                "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
            }
        )
    return {
        "leaves": leaves,
        "metrics": {
            name: np.asarray(values, np.float32).astype(np.float64).tolist()
            for name, values in sorted(metrics.items())
        },
    }


def differences(stored: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Why ``actual`` does not reproduce ``stored`` (empty when it does)."""
    problems = []

    def content(leaf):
        return (tuple(leaf["shape"]), leaf["dtype"], leaf["sha256"])

    available = Counter(content(leaf) for leaf in actual["leaves"])
    for leaf in stored["leaves"]:
        if available[content(leaf)] > 0:
            available[content(leaf)] -= 1
        else:
            problems.append(
                f"state leaf {leaf['path']} {leaf['dtype']}{leaf['shape']}: no bit-identical "
                "array in the new state"
            )
    for name, values in stored["metrics"].items():
        if name not in actual["metrics"]:
            problems.append(f"metric {name}: missing")
            continue
        expected = np.asarray(values, np.float32)
        got = np.asarray(actual["metrics"][name], np.float32)
        if expected.shape != got.shape or not np.array_equal(expected, got, equal_nan=True):
            problems.append(f"metric {name}: expected {expected.tolist()}, got {got.tolist()}")
    return problems


def load_golden() -> dict[str, Any]:
    return json.loads(GOLDEN_FILE.read_text())
