"""A run's work directory: its layout, restoring its latest checkpoint, and loading its policy.

Layout (written by :func:`jaxsafe.experiment.run_experiment` and :func:`jaxsafe.evaluation.
evaluate_run`)::

    config.json             the resolved config
    metrics.jsonl           one row per update per seed
    checkpoints/<update>/   orbax checkpoints of the whole state, seeds on the leading axis
    checkpoints/<update>.damaged/   a checkpoint that did not restore, set aside by a resume
    tensorboard/seed_<i>/   optional TensorBoard events
    plots/                  training curves
    eval.json, eval/        the latest evaluation and its pictures

Both the training loop (to resume) and evaluation restore through :func:`restore_latest`, so the
restore target is built in one place; it falls back to the newest checkpoint that restores and
names each newer one it skipped, with the reason. :func:`load_policy` gives a trained policy in
three lines::

    from jaxsafe.workdir import load_policy
    policy = load_policy("runs/quickstart")          # seed 0 of the latest checkpoint
    actions = policy.act(observations)                # [N, ...] observations of policy.env
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections

from jaxsafe.algorithms import Algorithm
from jaxsafe.checkpointing import Checkpointer, UnreadableCheckpoint
from jaxsafe.policy import Policy
from jaxsafe.sharding import seed_sharding
from jaxsafe.train import make_algorithm

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
EVAL_FILE = "eval.json"
EVAL_DIR = "eval"


class RunNotFoundError(FileNotFoundError):
    """The work directory, its ``config.json`` or any checkpoint is missing."""


class WorkdirError(Exception):
    """The work directory cannot be used as asked (it is a file, or none of its checkpoints
    restores); the message says why."""


def read_json(path: Path) -> Any:
    """The content of a run's JSON file (``config.json``, ``eval.json``).

    Raises:
        WorkdirError: the file is not valid JSON (e.g. a write killed half-way).
    """
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise WorkdirError(f"{path} is not valid JSON ({error})") from None


def seed_keys(config: ml_collections.ConfigDict) -> jax.Array:
    """The ``[num_seeds]`` training keys of a run."""
    return jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)


class Restored(NamedTuple):
    """The newest checkpoint that restored, and the newer ones that did not."""

    state: Any  # every seed's training state, sharded over the devices
    update: int  # updates done at that checkpoint
    skipped: list[tuple[int, str]]  # (update, reason) of each newer, unreadable checkpoint


def restore_latest(
    checkpointer: Checkpointer, algorithm: Algorithm, config: ml_collections.ConfigDict
) -> Restored | None:
    """The newest checkpoint that restores, or ``None`` when there is no checkpoint.

    Raises:
        WorkdirError: there are checkpoints, but none restores; the message gives each reason.
    """
    updates = checkpointer.updates()
    if not updates:
        return None
    sharding = seed_sharding(config.num_seeds)
    target = jax.eval_shape(
        jax.vmap(algorithm.init, in_axes=(0, None)), seed_keys(config), algorithm.hyperparams
    )
    target = jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding), target
    )
    skipped = []
    for update in updates:
        try:
            return Restored(checkpointer.restore(update, target), update, skipped)
        except UnreadableCheckpoint as error:
            skipped.append((update, str(error)))
    reasons = "; ".join(f"after update {update}: {reason}" for update, reason in skipped)
    raise WorkdirError(f"no checkpoint in {checkpointer.directory} restores ({reasons})")


class TrainedRun(NamedTuple):
    """A run restored from its work directory."""

    config: ml_collections.ConfigDict
    algorithm: Algorithm
    state: Any  # the training state after ``update`` updates, leading axis [S] seeds
    update: int
    skipped: list[tuple[int, str]]  # (update, reason) of newer checkpoints that did not restore


def read_config(workdir: str | Path) -> ml_collections.ConfigDict:
    """The ``config.json`` of the run in ``workdir``.

    Raises:
        RunNotFoundError: naming the missing directory or file.
    """
    workdir = Path(workdir)
    if workdir.exists() and not workdir.is_dir():
        raise RunNotFoundError(f"work directory {workdir} is a file, not a directory")
    if not workdir.is_dir():
        raise RunNotFoundError(f"work directory {workdir} does not exist")
    path = workdir / CONFIG_FILE
    if not path.is_file():
        raise RunNotFoundError(f"{path} does not exist; is {workdir} a training run?")
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def load_run(workdir: str | Path) -> TrainedRun:
    """Restores the newest checkpoint of the run in ``workdir`` that restores (read-only).

    Raises:
        RunNotFoundError: naming the missing directory, ``config.json`` or checkpoint.
        WorkdirError: there are checkpoints, but none restores.
    """
    config = read_config(workdir)
    checkpoint_dir = Path(workdir) / CHECKPOINT_DIR
    if not checkpoint_dir.is_dir():
        raise RunNotFoundError(f"no checkpoint in {workdir} ({checkpoint_dir} does not exist)")
    algorithm = make_algorithm(config)
    checkpointer = Checkpointer(checkpoint_dir, create=False)
    try:
        restored = restore_latest(checkpointer, algorithm, config)
    finally:
        checkpointer.close()
    if restored is None:
        raise RunNotFoundError(f"no checkpoint in {checkpoint_dir}")
    return TrainedRun(config, algorithm, *restored)


class LoadedPolicy(NamedTuple):
    """One seed's trained policy, ready to act on batches of observations."""

    policy: Policy  # the public policy (with its carry, for stateful policies)
    act: Callable[..., jax.Array]
    """``act(observation [N, ...], key=None, deterministic=True) -> action [N, ...]``: one step
    from a fresh carry (``key`` is needed to sample, ``deterministic=False``)."""
    env: Any  # the environment as the policy sees it (e.g. with VaR-CPO's augmented state)
    env_params: Any
    config: ml_collections.ConfigDict
    update: int  # updates trained


def load_policy(workdir: str | Path, seed: int = 0) -> LoadedPolicy:
    """The policy of seed ``seed`` at the latest checkpoint of the run in ``workdir``."""
    run = load_run(workdir)
    for update, reason in run.skipped:
        warnings.warn(
            f"checkpoint after update {update} of {workdir} skipped: {reason}", stacklevel=2
        )
    if not 0 <= seed < run.config.num_seeds:
        raise ValueError(f"seed {seed} is not in the run's {run.config.num_seeds} seeds")
    state = jax.tree.map(lambda leaf: leaf[seed], run.state)
    policy = run.algorithm.policy(state)

    @functools.partial(jax.jit, static_argnames="deterministic")
    def step(observation, key, deterministic):
        carry = policy.init_carry(key, observation.shape[0])
        return policy.step(carry, observation, key, deterministic)[1]

    def act(observation, key: jax.Array | None = None, deterministic: bool = True) -> jax.Array:
        if key is None:
            if not deterministic:
                raise ValueError("sampling an action (deterministic=False) needs a key")
            key = jax.random.PRNGKey(0)
        return step(observation, key, deterministic=deterministic)

    return LoadedPolicy(
        policy, act, run.algorithm.env, run.algorithm.env_params, run.config, run.update
    )
