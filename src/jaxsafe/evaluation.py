"""Evaluating a trained policy: complete episodes from fresh resets, their totals and pictures.

:func:`run_episodes` is pure and jittable. For one seed's training state it resets ``E``
environments and steps them all with ``algorithm.act`` until each has finished its *first*
episode (a ``lax.while_loop`` bounded by the environment's horizon ``H``); an environment is
frozen, and its sums masked, from the step its episode ended. Per episode it returns::

    return            R   = Σ_t r_t
    cost              C   = Σ_t c_t
    discounted cost   C_γ = Σ_t γ_c^t c_t
    length            L   = number of steps
    counters          Σ_t x_t for every boolean info flag x (IcyLake's ``entered_ice`` and
                      ``slipped``, EcoAnt's ``depleted``)

and, optionally, a per-step recording of the environment state (positions for pictures, brax
pipeline states for a replay). Seeds are a ``jax.vmap`` of the caller, as in training.

:func:`episode_metrics` turns the totals into the metrics of ``eval.json``; the VaR exceedance
``P(C_γ ≥ d)`` is reported for risk-constrained algorithms (those with an ``algo.alpha``), whose
``algo.cost_limit`` is the threshold ``d``. :func:`evaluate_run` does the whole job for a work
directory written by :func:`jaxsafe.experiment.run_experiment`: restores the latest checkpoint,
evaluates every seed, writes ``eval.json`` and the pictures under ``eval/``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import jaxsafe_envs
from jaxsafe import rollout
from jaxsafe.algorithms import Algorithm
from jaxsafe.augmented_state import inner_state, unwrapped
from jaxsafe.checkpointing import Checkpointer
from jaxsafe.sharding import seed_sharding
from jaxsafe.train import make_algorithm

EVAL_FILE = "eval.json"
EVAL_DIR = "eval"
CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
DPI = 120

RecordFn = Callable[[Any], Any]
"""``env_state (one environment) -> pytree``: what to keep of every step for the pictures."""


# ---------------------------------------------------------------------------------------------
# Running episodes
# ---------------------------------------------------------------------------------------------


class EpisodeResults(NamedTuple):
    """Totals of complete episodes, every field ``[E]`` (``[S, E]`` once vmapped over seeds).

    Attributes:
      episode_return: ``Σ_t r_t``, undiscounted.
      episode_cost: ``Σ_t c_t``, undiscounted.
      discounted_cost: ``Σ_t γ_c^t c_t``.
      length: int32 number of steps.
      counters: info flag name to ``Σ_t x_t`` (float32) over the episode.
    """

    episode_return: jax.Array
    episode_cost: jax.Array
    discounted_cost: jax.Array
    length: jax.Array
    counters: dict[str, jax.Array]


class _LoopState(NamedTuple):
    """The carry of :func:`run_episodes`' while loop."""

    t: jax.Array  # int32 steps taken so far (the same for every environment)
    key: jax.Array
    env_state: Any  # leading axis [E]; frozen once an episode has ended
    observation: jax.Array  # [E, ...]
    active: jax.Array  # [E] bool: the episode has not ended yet
    cost_discount_factor: jax.Array  # γ_c^t
    totals: EpisodeResults
    recording: Any  # pytree of [H + 1, E, ...], or None


def horizon(env_params: Any) -> int:
    """The longest possible episode, ``env_params.max_steps_in_episode``, as a Python int."""
    return int(jax.device_get(env_params.max_steps_in_episode))


def run_episodes(
    algorithm: Algorithm,
    env: Any,
    env_params: Any,
    state: Any,
    key: jax.Array,
    num_episodes: int,
    *,
    deterministic: bool = False,
    cost_discount: float | jax.Array = 1.0,
    max_steps: int | None = None,
    record: RecordFn | None = None,
) -> tuple[EpisodeResults, Any]:
    """Runs one complete episode in each of ``num_episodes`` freshly reset environments.

    Every environment is reset from its own key and stepped with ``algorithm.act`` until its
    episode terminates or is truncated; from then on it is frozen and adds nothing. The loop
    stops when every episode has ended, and at the latest after ``max_steps`` steps, where any
    episode still running counts as truncated (with ``max_steps`` equal to the environment's
    horizon, the default, that never cuts an episode short).

    Args:
      algorithm: the trained algorithm; its ``act`` is called on ``[E, ...]`` observations.
      env, env_params: the gymnax environment trained on and its params (concrete unless
        ``max_steps`` is given).
      state: ONE seed's training state (no seed axis); vmap this function over seeds.
      key: PRNG key for resets, environment noise and (stochastic) actions.
      num_episodes: ``E``, the number of environments, one episode each.
      deterministic: act with the policy's mode rather than a sample.
      cost_discount: ``γ_c`` of the discounted cost; may be traced.
      max_steps: ``H``, the loop bound; ``env_params.max_steps_in_episode`` by default.
      record: optional ``env_state -> pytree`` for one environment; its values at the reset
        state and after every step are returned.

    Returns:
      ``(results, recording)``: the per-episode :class:`EpisodeResults`, every field ``[E]``,
      and the recording, a pytree of ``[H + 1, E, ...]`` arrays whose row ``t`` is the state
      after ``t`` steps, valid for ``t ≤ length`` (later rows repeat the final state); ``None``
      without ``record``.
    """
    max_steps = horizon(env_params) if max_steps is None else max_steps
    counter_names = rollout.episode_counter_names(env, env_params)
    step_envs = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))
    truncated_envs = jax.vmap(env.is_truncated, in_axes=(0, None))
    record_envs = jax.vmap(record) if record is not None else None

    key_reset, key = jax.random.split(key)
    observation, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, num_episodes), env_params
    )
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    recording = None
    if record_envs is not None:
        recording = jax.tree.map(
            lambda leaf: jnp.zeros((max_steps + 1, *leaf.shape), leaf.dtype).at[0].set(leaf),
            record_envs(env_state),
        )
    loop = _LoopState(
        t=jnp.int32(0),
        key=key,
        env_state=env_state,
        observation=observation,
        active=jnp.ones((num_episodes,), bool),
        cost_discount_factor=jnp.float32(1.0),
        totals=EpisodeResults(
            episode_return=zeros,
            episode_cost=zeros,
            discounted_cost=zeros,
            length=jnp.zeros((num_episodes,), jnp.int32),
            counters={name: zeros for name in counter_names},
        ),
        recording=recording,
    )

    def running(loop: _LoopState) -> jax.Array:
        return jnp.any(loop.active) & (loop.t < max_steps)

    def one_step(loop: _LoopState) -> _LoopState:
        key, key_policy, key_env = jax.random.split(loop.key, 3)
        action = algorithm.act(state, loop.observation, key_policy, deterministic)
        observation, env_state, reward, terminated, info = step_envs(
            jax.random.split(key_env, num_episodes), loop.env_state, action, env_params
        )
        t = loop.t + 1
        done = terminated | truncated_envs(env_state, env_params) | (t >= max_steps)

        # Sums of the steps taken while the episode was still running.
        active = loop.active

        def add(total: jax.Array, x: jax.Array) -> jax.Array:
            return total + jnp.where(active, x, 0).astype(total.dtype)

        totals = loop.totals
        totals = EpisodeResults(
            episode_return=add(totals.episode_return, reward),
            episode_cost=add(totals.episode_cost, info["cost"]),
            discounted_cost=add(totals.discounted_cost, loop.cost_discount_factor * info["cost"]),
            length=add(totals.length, jnp.ones_like(totals.length)),
            counters={name: add(total, info[name]) for name, total in totals.counters.items()},
        )

        # Environments whose episode had already ended stay where they were.
        env_state = _where_active(active, env_state, loop.env_state)
        observation = _where_active(active, observation, loop.observation)
        recording = loop.recording
        if record_envs is not None:
            recording = jax.tree.map(
                lambda rows, row: rows.at[t].set(row), recording, record_envs(env_state)
            )
        return _LoopState(
            t=t,
            key=key,
            env_state=env_state,
            observation=observation,
            active=active & ~done,
            cost_discount_factor=loop.cost_discount_factor * cost_discount,
            totals=totals,
            recording=recording,
        )

    loop = jax.lax.while_loop(running, one_step, loop)
    chex.assert_shape(
        [loop.totals.episode_return, loop.totals.discounted_cost, loop.totals.length],
        (num_episodes,),
    )
    return loop.totals, loop.recording


def _where_active(active: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``active`` [E], else ``old``, leaf by leaf (leaves ``[E, ...]``)."""

    def select(new_leaf: jax.Array, old_leaf: jax.Array) -> jax.Array:
        mask = active.reshape(active.shape + (1,) * (new_leaf.ndim - 1))
        return jnp.where(mask, new_leaf, old_leaf)

    return jax.tree.map(select, new, old)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def var_threshold(config: ml_collections.ConfigDict) -> float | None:
    """The VaR threshold ``d`` of a run, else ``None``.

    Risk-constrained algorithms (CVaR-PPO, VaR-CPO) carry a tail probability ``algo.alpha``
    and bound the tail of the discounted episode cost at ``algo.cost_limit``; any other run
    uses ``log.cost_threshold`` when it is set, so that its risk can be compared.
    """
    algo = config.algo
    if "alpha" in algo and "cost_limit" in algo:
        return float(algo.cost_limit)
    threshold = config.log.get("cost_threshold")
    return None if threshold is None else float(threshold)


def episode_metrics(
    results: EpisodeResults, threshold: float | None = None
) -> dict[str, jax.Array]:
    """Per-episode metrics by their ``eval.json`` name, each float32 shaped like the results.

    Always ``return``, ``cost``, ``discounted_cost`` and ``length``; ``var_exceedance``
    (``1[C_γ ≥ threshold]``) when ``threshold`` is given; ``ice_visits`` and ``slips`` for
    IcyLake (``Σ entered_ice``, ``Σ slipped``); ``depletion_rate`` for EcoAnt
    (``1[any depleted]``). Means over episodes give the rates.
    """
    metrics = {
        "return": results.episode_return,
        "cost": results.episode_cost,
        "discounted_cost": results.discounted_cost,
    }
    if threshold is not None:
        metrics["var_exceedance"] = results.discounted_cost >= threshold
    counters = results.counters
    if "entered_ice" in counters:
        metrics["ice_visits"] = counters["entered_ice"]
    if "slipped" in counters:
        metrics["slips"] = counters["slipped"]
    if "depleted" in counters:
        metrics["depletion_rate"] = counters["depleted"] > 0
    metrics["length"] = results.length
    return {name: jnp.asarray(value, jnp.float32) for name, value in metrics.items()}


def summarize(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"mean": m, "per_seed": [m_0, ...]}}`` from per-episode metrics ``[S, E]``.

    ``per_seed`` is each seed's mean over its episodes; ``mean`` is their mean (every seed runs
    the same number of episodes, so it is also the mean over all episodes).
    """
    summary = {}
    for name, values in metrics.items():
        values = np.asarray(values, np.float64)
        if values.ndim != 2:
            raise ValueError(f"metric {name!r}: expected [seeds, episodes], got {values.shape}")
        per_seed = values.mean(axis=1)
        summary[name] = {"mean": float(per_seed.mean()), "per_seed": per_seed.tolist()}
    return summary


# ---------------------------------------------------------------------------------------------
# Loading a trained run
# ---------------------------------------------------------------------------------------------


class RunNotFoundError(FileNotFoundError):
    """The work directory, its ``config.json`` or any checkpoint is missing."""


class TrainedRun(NamedTuple):
    """A run restored from its work directory."""

    config: ml_collections.ConfigDict
    algorithm: Algorithm
    env: Any
    env_params: Any
    state: Any  # the training state after ``update`` updates, leading axis [S] seeds
    update: int


def load_run(workdir: str | Path) -> TrainedRun:
    """Restores the latest checkpoint of the run in ``workdir``.

    Raises:
      RunNotFoundError: naming the missing directory, ``config.json`` or checkpoint.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise RunNotFoundError(f"work directory {workdir} does not exist")
    config_path = workdir / CONFIG_FILE
    if not config_path.is_file():
        raise RunNotFoundError(f"{config_path} does not exist; is {workdir} a training run?")
    checkpoint_dir = workdir / CHECKPOINT_DIR
    if not checkpoint_dir.is_dir():
        raise RunNotFoundError(f"no checkpoint in {workdir} ({checkpoint_dir} does not exist)")

    config = ml_collections.ConfigDict(json.loads(config_path.read_text()))
    checkpointer = Checkpointer(checkpoint_dir, config.checkpoint.max_to_keep)
    try:
        update = checkpointer.latest_update()
        if update is None:
            raise RunNotFoundError(f"no checkpoint in {checkpoint_dir}")
        algorithm = make_algorithm(config)
        keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
        sharding = seed_sharding(config.num_seeds)
        target = jax.eval_shape(
            jax.vmap(algorithm.init, in_axes=(0, None)), keys, algorithm.hyperparams
        )
        target = jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding), target
        )
        state = checkpointer.restore(update, target)
    finally:
        checkpointer.close()
    return TrainedRun(config, algorithm, algorithm.env, algorithm.env_params, state, int(update))


# ---------------------------------------------------------------------------------------------
# Evaluating a run
# ---------------------------------------------------------------------------------------------


class Evaluation(NamedTuple):
    """What :func:`evaluate_run` produced."""

    report: dict[str, Any]  # the contents of eval.json
    files: list[Path]  # eval.json and the pictures written


def evaluate_run(
    workdir: str | Path,
    num_episodes: int = 100,
    deterministic: bool = False,
    seed: int = 0,
) -> Evaluation:
    """Evaluates every seed of the run in ``workdir``; writes ``eval.json`` and ``eval/``.

    Args:
      workdir: a work directory of :func:`jaxsafe.experiment.run_experiment`.
      num_episodes: complete episodes per seed, run in parallel from fresh resets.
      deterministic: act with the policy's mode instead of sampling.
      seed: seed of the evaluation's PRNG key.

    Returns:
      The report written to ``<workdir>/eval.json``,
      ``{"episodes", "deterministic", "update", "metrics": {name: {"mean", "per_seed"}}}``,
      and the paths written: ``eval.json`` and, depending on the environment, an IcyLake
      visitation heat-map, a Point/AntCircle trajectory plot or an EcoAnt HTML replay in
      ``<workdir>/eval/``.

    Raises:
      RunNotFoundError: no run or no checkpoint in ``workdir``.
      ValueError: ``num_episodes`` < 1.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be at least 1, got {num_episodes}")
    workdir = Path(workdir)
    run = load_run(workdir)
    num_seeds = jax.tree.leaves(run.state)[0].shape[0]
    env, env_params = run.env, run.env_params
    record = _positions_recorder(env)
    evaluate = functools.partial(
        run_episodes,
        run.algorithm,
        env,
        env_params,
        num_episodes=num_episodes,
        deterministic=deterministic,
        cost_discount=float(run.config.algo.cost_discount),
        record=record,
    )
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    results, recording = jax.jit(jax.vmap(evaluate))(run.state, keys)
    metrics = episode_metrics(results, var_threshold(run.config))
    names = list(metrics)  # device_get sorts dict keys; keep episode_metrics' order
    results, recording, metrics = jax.device_get((results, recording, metrics))
    metrics = {name: metrics[name] for name in names}
    report = {
        "episodes": num_episodes,
        "deterministic": bool(deterministic),
        "update": run.update,
        "metrics": summarize(metrics),
    }
    path = workdir / EVAL_FILE
    path.write_text(json.dumps(report, indent=2))
    files = [path]

    output = workdir / EVAL_DIR
    lengths = np.asarray(results.length)  # [S, E]
    env = unwrapped(env)  # the task itself, for the pictures
    if isinstance(env, jaxsafe_envs.IcyLake):
        # recording [S, H + 1, E]: every seed's episodes.
        files.append(
            plot_icy_lake_visits(
                env, recording, lengths[:, None, :], output / "visits.png", time_axis=1
            )
        )
    elif isinstance(env, jaxsafe_envs.PointCircle | jaxsafe_envs.AntCircle):
        files.append(
            plot_circle_paths(
                recording[0],
                lengths[0],
                float(env_params.radius),
                float(env_params.x_limit),
                output / "trajectories.png",
                title=f"{run.config.env.name}, seed 0, update {run.update}",
            )
        )
    elif isinstance(env, jaxsafe_envs.EcoAnt):
        files.append(_eco_ant_replay(run, deterministic, keys[0], output / "replay_seed0.html"))
    return Evaluation(report, files)


def _positions_recorder(env: Any) -> RecordFn | None:
    """What the pictures of ``env`` need of every step (positions), or ``None``."""
    task = unwrapped(env)
    if isinstance(task, jaxsafe_envs.IcyLake):
        return lambda env_state: inner_state(env_state).position
    if isinstance(task, jaxsafe_envs.PointCircle):
        return lambda env_state: jnp.stack([inner_state(env_state).x, inner_state(env_state).y])
    if isinstance(task, jaxsafe_envs.AntCircle):
        return lambda env_state: inner_state(env_state).brax.pipeline_state.x.pos[0, :2]
    return None


def _eco_ant_replay(run: TrainedRun, deterministic: bool, key: jax.Array, path: Path) -> Path:
    """One episode of seed 0 with its brax pipeline states, saved as brax's HTML viewer."""
    state = jax.tree.map(lambda leaf: leaf[0], run.state)
    replay = jax.jit(
        functools.partial(
            run_episodes,
            run.algorithm,
            run.env,
            run.env_params,
            num_episodes=1,
            deterministic=deterministic,
            cost_discount=float(run.config.algo.cost_discount),
            record=lambda env_state: inner_state(env_state).brax.pipeline_state,
        )
    )
    results, pipeline_states = jax.device_get(replay(state, key))
    length = int(results.length[0])
    frames = [
        jax.tree.map(lambda leaf, t=t: leaf[t, 0], pipeline_states) for t in range(length + 1)
    ]
    return save_brax_replay(unwrapped(run.env), frames, path)


def format_table(report: dict[str, Any], workdir: str | Path | None = None) -> str:
    """A plain-text table of an ``eval.json`` report: one row per metric, mean and each seed."""
    metrics = report["metrics"]
    num_seeds = len(next(iter(metrics.values()))["per_seed"])
    policy = "deterministic" if report["deterministic"] else "stochastic"
    where = f" of {workdir}" if workdir is not None else ""
    lines = [
        f"evaluation{where} after update {report['update']}: "
        f"{report['episodes']} episodes per seed, {policy} policy"
    ]
    width = max(len(name) for name in metrics)
    header = [f"{'metric':<{width}}", f"{'mean':>10}"] + [
        f"{f'seed {s}':>10}" for s in range(num_seeds)
    ]
    lines.append("  ".join(header))
    for name, values in metrics.items():
        row = [f"{name:<{width}}", f"{values['mean']:>10.4g}"]
        row += [f"{value:>10.4g}" for value in values["per_seed"]]
        lines.append("  ".join(row))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------


def _figure(size: tuple[float, float]) -> tuple[Figure, Any]:
    """An Agg-backed figure outside pyplot (nothing to close) and its single axes."""
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def visit_counts(
    positions: np.ndarray, lengths: np.ndarray, num_tiles: int, time_axis: int = 0
) -> np.ndarray:
    """Visits per tile over valid steps: position row ``t`` counts when ``t ≤ length``.

    Args:
      positions: int tile indices with a time axis of size ``H + 1`` at ``time_axis``.
      lengths: episode lengths, broadcastable against ``positions`` (size 1 on ``time_axis``).
      num_tiles: number of tiles.
      time_axis: the time axis of ``positions``.

    Returns:
      ``[num_tiles]`` float64 visit counts.
    """
    positions = np.asarray(positions)
    steps = np.arange(positions.shape[time_axis])
    steps = steps.reshape([-1 if axis == time_axis else 1 for axis in range(positions.ndim)])
    valid = np.broadcast_to(steps <= np.asarray(lengths), positions.shape)
    return np.bincount(positions[valid].ravel(), minlength=num_tiles).astype(np.float64)


def plot_icy_lake_visits(
    env: jaxsafe_envs.IcyLake,
    positions: np.ndarray,
    lengths: np.ndarray,
    path: str | Path,
    time_axis: int = 0,
) -> Path:
    """A heat-map of visits per episode to each IcyLake tile, labelled S/F/T/G.

    Args:
      env: the IcyLake environment (its map ``desc``).
      positions, lengths, time_axis: as in :func:`visit_counts`; every episode counts,
        including its start tile.
      path: the PNG to write (parent directories are created).
    """
    counts = visit_counts(positions, lengths, env.rows * env.cols, time_axis)
    episodes = np.asarray(lengths).size
    grid = (counts / max(episodes, 1)).reshape(env.rows, env.cols)
    size = 1.1 * max(env.rows, env.cols) + 1.5
    figure, axes = _figure((size + 1.2, size))
    image = axes.imshow(grid, cmap="viridis", vmin=0.0)
    figure.colorbar(image, ax=axes, label="visits per episode")
    vmax = max(grid.max(), 1e-9)
    for row, letters in enumerate(env.desc):
        for col, letter in enumerate(letters):
            colour = "black" if grid[row, col] > 0.6 * vmax else "white"
            axes.text(
                col,
                row - 0.12,
                letter,
                ha="center",
                va="center",
                color=colour,
                fontsize=14,
                fontweight="bold",
            )
            axes.text(
                col,
                row + 0.22,
                f"{grid[row, col]:.2f}",
                ha="center",
                va="center",
                color=colour,
                fontsize=8,
            )
    axes.set_xlabel("column")
    axes.set_ylabel("row")
    axes.set_xticks(range(env.cols))
    axes.set_yticks(range(env.rows))
    axes.set_title(f"IcyLake visits ({episodes} episodes)\nS start, F snow, T ice, G goal")
    return _save(figure, path)


def plot_circle_paths(
    xy: np.ndarray,
    lengths: np.ndarray,
    radius: float,
    x_limit: float,
    path: str | Path,
    max_episodes: int = 5,
    title: str = "",
) -> Path:
    """x–y paths of a few episodes with the target circle and the safe strip |x| ≤ x_limit.

    Args:
      xy: ``[H + 1, E, 2]`` positions, row ``t`` after ``t`` steps.
      lengths: ``[E]`` episode lengths; row ``t`` is drawn for ``t ≤ length``.
      radius: the circle the reward favours.
      x_limit: the cost is paid where ``|x| > x_limit``.
      path: the PNG to write (parent directories are created).
      max_episodes: how many of the episodes to draw.
      title: the figure's title.
    """
    xy, lengths = np.asarray(xy), np.asarray(lengths)
    figure, axes = _figure((6.5, 7.0))
    angle = np.linspace(0.0, 2.0 * np.pi, 200)
    axes.plot(
        radius * np.cos(angle),
        radius * np.sin(angle),
        color="0.4",
        ls="--",
        lw=1.2,
        label=f"circle r = {radius:g}",
    )
    count = min(max_episodes, xy.shape[1])
    colours = [f"C{i}" for i in range(10) if i != 3]  # C3 is the unsafe region's red
    extent = radius
    for episode in range(count):
        points = xy[: lengths[episode] + 1, episode]
        colour = colours[episode % len(colours)]
        axes.plot(points[:, 0], points[:, 1], color=colour, lw=1.3, label=f"episode {episode}")
        axes.plot(points[0, 0], points[0, 1], "o", color="black", ms=4)
        axes.plot(points[-1, 0], points[-1, 1], "x", color=colour, ms=6)
        extent = max(extent, float(np.abs(points).max()))
    extent *= 1.1
    for sign in (-1.0, 1.0):
        label = f"|x| = {x_limit:g}: cost beyond" if sign > 0 else None
        axes.axvline(sign * x_limit, color="C3", lw=1.2, ls="-.", label=label)
        axes.axvspan(sign * x_limit, sign * extent, color="C3", alpha=0.06)
    axes.set_xlim(-extent, extent)
    axes.set_ylim(-extent, extent)
    axes.set_aspect("equal")
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=4, fontsize="small")
    axes.set_title(title or "episode paths")
    axes.text(0.01, 0.99, "● start   × end", transform=axes.transAxes, va="top", fontsize="small")
    return _save(figure, path)


def save_brax_replay(env: Any, pipeline_states: list[Any], path: str | Path) -> Path:
    """brax's HTML viewer of a list of pipeline states of ``env.brax_env``."""
    from brax.io import html

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html.render(env.brax_env.sys, pipeline_states))
    return path


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path
