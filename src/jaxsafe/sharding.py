"""Spreading the seed axis over the local devices with JAX's SPMD partitioning.

Every leaf of a multi-seed state has the seeds as its leading axis; placing that axis on a
one-dimensional device mesh makes ``jax.jit`` run each device's seeds there, with no other
change to the program. On several hosts, call ``jax.distributed.initialize()`` before
building the mesh: ``jax.devices()`` then lists every host's devices and the same code shards
the seeds across all of them (each host runs the same command).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def seed_sharding(num_seeds: int) -> NamedSharding:
    """Sharding of a leading ``[num_seeds]`` axis over as many devices as divide it evenly."""
    devices = jax.devices()
    count = math.gcd(num_seeds, len(devices))
    mesh = Mesh(np.array(devices[:count]), ("seed",))
    return NamedSharding(mesh, PartitionSpec("seed"))


def shard_seeds(tree: Any, sharding: NamedSharding) -> Any:
    """``tree`` with every leaf's leading (seed) axis placed according to ``sharding``."""
    return jax.device_put(tree, sharding)
