"""Pictures of evaluation episodes, one kind per environment kind.

IcyLake: a heat-map of tile visits; PointCircle/AntCircle: x–y paths with the circle and the
safe strip; the navigation tasks (PointGoal, PointTrap, PointHazards, anything with the
``layout``/``position`` interface of :mod:`jaxsafe_envs.navigation_layout`): paths drawn over
their layouts; EcoAnt: brax's HTML replay. :func:`recorder` says what each kind needs recorded
of every step, :func:`draw` makes the picture from the recording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import jaxsafe_envs
from jaxsafe.augmented_state import inner_state, unwrapped
from jaxsafe.episodes import RecordFn

DPI = 120


def _is_brax_task(task: Any, name: str) -> bool:
    """``isinstance(task, jaxsafe_envs.<name>)`` without importing brax for the other tasks."""
    cls = jaxsafe_envs.loaded_brax_class(name)
    return cls is not None and isinstance(task, cls)


def _is_navigation(task: Any) -> bool:
    return hasattr(task, "layout") and hasattr(task, "position")


def recorder(env: Any, env_params: Any) -> RecordFn | None:
    """What the pictures of ``env`` need of every step (positions), or ``None``."""
    task = unwrapped(env)
    if _is_navigation(task):
        return lambda env_state: {
            "position": task.position(inner_state(env_state)),
            "layout": task.layout(inner_state(env_state), env_params),
        }
    if isinstance(task, jaxsafe_envs.IcyLake):
        return lambda env_state: inner_state(env_state).position
    if isinstance(task, jaxsafe_envs.PointCircle):
        return lambda env_state: jnp.stack([inner_state(env_state).x, inner_state(env_state).y])
    if _is_brax_task(task, "AntCircle"):
        return lambda env_state: inner_state(env_state).brax.pipeline_state.x.pos[0, :2]
    return None


def replay_recorder(env: Any) -> RecordFn | None:
    """For brax tasks shown as a replay (EcoAnt): the pipeline state of every step, recorded for
    one extra episode of seed 0 (too large to record for every episode)."""
    if _is_brax_task(unwrapped(env), "EcoAnt"):
        return lambda env_state: inner_state(env_state).brax.pipeline_state
    return None


def draw(
    env: Any,
    env_params: Any,
    recording: Any,
    lengths: np.ndarray,
    output: Path,
    title: str,
    replay: tuple[Any, int] | None = None,
) -> list[Path]:
    """The pictures of every seed's recorded episodes under ``output``.

    Args:
        env, env_params: the evaluated environment.
        recording: :func:`recorder`'s values, leaves ``[S, H + 1, E, ...]`` (or ``None``).
        lengths: ``[S, E]`` episode lengths.
        output: the pictures' folder.
        title: of a trajectory plot.
        replay: the :func:`replay_recorder` recording of one episode, leaves ``[H + 1, 1, ...]``,
            and its length.

    Returns:
        The files written; none for an environment without pictures.
    """
    task = unwrapped(env)
    lengths = np.asarray(lengths)
    if isinstance(task, jaxsafe_envs.IcyLake):
        return [
            plot_icy_lake_visits(
                task, recording, lengths[:, None, :], output / "visits.png", time_axis=1
            )
        ]
    if _is_navigation(task):
        return [
            plot_navigation_paths(
                jax.tree.map(lambda leaf: leaf[0], recording),
                lengths[0],
                output / "trajectories.png",
                title=title,
            )
        ]
    if isinstance(task, jaxsafe_envs.PointCircle) or _is_brax_task(task, "AntCircle"):
        return [
            plot_circle_paths(
                recording[0],
                lengths[0],
                float(env_params.radius),
                float(env_params.x_limit),
                output / "trajectories.png",
                title=title,
            )
        ]
    if replay is not None:
        states, length = replay
        frames = [jax.tree.map(lambda leaf, t=t: leaf[t, 0], states) for t in range(length + 1)]
        return [save_brax_replay(task, frames, output / "replay_seed0.html")]
    return []


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


def plot_navigation_paths(
    recording: dict[str, Any],
    lengths: np.ndarray,
    path: str | Path,
    max_episodes: int = 4,
    title: str = "",
) -> Path:
    """Paths of a few episodes, each over its own layout (walls, traps, hazards, goals).

    Args:
      recording: ``{"position": [H + 1, E, 2], "layout": NavigationLayout}`` with layout leaves
        ``[H + 1, E, ...]``; row ``t`` is the state after ``t`` steps.
      lengths: ``[E]`` episode lengths; row ``t`` is drawn for ``t ≤ length``.
      path: the PNG to write (parent directories are created).
      max_episodes: how many episodes to draw, one panel each.
      title: the figure's title.
    """
    from matplotlib.patches import Circle, Rectangle

    positions = np.asarray(recording["position"])
    layout = jax.tree.map(np.asarray, recording["layout"])
    lengths = np.asarray(lengths)
    count = min(max_episodes, positions.shape[1])
    figure = Figure(figsize=(4.2 * count, 4.6), layout="constrained")
    FigureCanvasAgg(figure)
    for episode in range(count):
        axes = figure.add_subplot(1, count, episode + 1)
        end = int(lengths[episode])
        x_min, y_min, x_max, y_max = layout.extent[0, episode]
        for x0, y0, x1, y1 in layout.walls[0, episode]:
            axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, color="0.35"))
        for kind, colour in (("traps", "C1"), ("hazards", "C3")):
            for x, y, radius in getattr(layout, kind)[0, episode]:
                axes.add_patch(Circle((x, y), radius, color=colour, alpha=0.35, lw=0))
        # Every goal of the episode (PointGoal places a new one whenever it is reached).
        goals = np.unique(layout.goal[: end + 1, episode], axis=0)
        radius = float(layout.goal_radius[0, episode])
        for x, y in goals:
            axes.add_patch(Circle((x, y), radius, color="C2", alpha=0.45, lw=0))
        points = positions[: end + 1, episode]
        axes.plot(points[:, 0], points[:, 1], color="C0", lw=1.2)
        axes.plot(points[0, 0], points[0, 1], "o", color="black", ms=4)
        axes.plot(points[-1, 0], points[-1, 1], "x", color="C0", ms=6)
        axes.set_xlim(x_min, x_max)
        axes.set_ylim(y_min, y_max)
        axes.set_aspect("equal")
        axes.set_title(f"episode {episode}: {end} steps", fontsize="small")
        axes.grid(alpha=0.2)
    figure.suptitle(
        (title + "\n" if title else "")
        + "green goal, red hazards, orange traps, grey walls; ● start × end",
        fontsize="small",
    )
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
