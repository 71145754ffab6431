"""What ``jaxsafe-run --dry-run`` prints: the resolved config and its batch arithmetic.

Nothing is built, compiled or written: the arithmetic uses the algorithm module's
``steps_per_update`` and the config's fields only. For ``experiments/varcpo_icylake.py``::

    batch: 32 envs × 128 steps = 4,096 env steps per update (per seed)
    minibatches: 4 of 1,024 steps, 4 epochs per update (the critics; the policy takes one
        trust-region step on the whole batch)
    updates: total_timesteps 400,000 // 4,096 = 97 (the last 2,688 steps are not run)
    env steps per seed: 97 × 4,096 = 397,312
    seeds: 3, trained as one program: 1,191,936 env steps in all
    compiled calls: 10 of up to 10 updates (log.updates_per_chunk), a checkpoint after
        every 1 and at the end
"""

from __future__ import annotations

import json
import math

import ml_collections

from jaxsafe.algorithms import ALGORITHMS


def describe(config: ml_collections.ConfigDict) -> str:
    """The resolved ``config`` as ``config.json`` will hold it, then :func:`batch_arithmetic`."""
    resolved = json.dumps(json.loads(config.to_json_best_effort()), indent=2, sort_keys=True)
    return f"config:\n{resolved}\n\n{batch_arithmetic(config)}"


def batch_arithmetic(config: ml_collections.ConfigDict) -> str:
    """How a validated ``config`` splits into batches, minibatches, updates, seeds and calls,
    one line each."""
    algo = config.algo
    module = ALGORITHMS[algo.name]
    batch = module.steps_per_update(algo)
    lines = []
    if "num_envs" in algo and "num_steps" in algo:
        lines.append(
            f"batch: {algo.num_envs:,} envs × {algo.num_steps:,} steps = {batch:,} env steps "
            "per update (per seed)"
        )
    else:
        lines.append(f"batch: {batch:,} env steps per update (per seed)")
    if "num_minibatches" in algo and "num_epochs" in algo:
        whose = (
            " (the critics; the policy takes one trust-region step on the whole batch)"
            if hasattr(module, "make_frame")
            else ""
        )
        lines.append(
            f"minibatches: {algo.num_minibatches} of {batch // algo.num_minibatches:,} steps, "
            f"{algo.num_epochs} epochs per update{whose}"
        )
    updates = config.total_timesteps // batch
    left = config.total_timesteps - updates * batch
    lines.append(
        f"updates: total_timesteps {config.total_timesteps:,} // {batch:,} = {updates:,}"
        + (f" (the last {left:,} steps are not run)" if left else "")
    )
    lines.append(f"env steps per seed: {updates:,} × {batch:,} = {updates * batch:,}")
    if "cost_limits" in algo:  # a flip family: S members per seed (env steps per member)
        members = len(algo.cost_limits)
        lines.append(
            f"seeds: {config.num_seeds} × {members} members (algo.cost_limits), trained as one "
            f"program: {config.num_seeds * members * updates * batch:,} env steps in all"
        )
    else:
        lines.append(
            f"seeds: {config.num_seeds}, trained as one program: "
            f"{config.num_seeds * updates * batch:,} env steps in all"
        )
    per_call = config.log.updates_per_chunk
    lines.append(
        f"compiled calls: {math.ceil(updates / per_call):,} of up to {per_call} updates "
        f"(log.updates_per_chunk), a checkpoint after every {config.checkpoint.every_chunks} "
        "and at the end"
    )
    return "\n".join(lines)
