"""Draws ``navigation_layouts.png``: a PointGoal level-2 layout and the PointTrap maze.

    python envs/docs/navigation_layouts.py     # needs matplotlib

Uses only the drawing interface (``env.layout``, ``env.position``) and a short scripted path.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, Rectangle  # noqa: E402

import jaxsafe_envs  # noqa: E402


def _draw(ax, layout, positions, title):
    x0, y0, x1, y1 = (float(v) for v in layout.extent)
    for x, y, r in layout.hazards.tolist():
        ax.add_patch(Circle((x, y), r, color="tab:blue", alpha=0.35))
    for x, y, r in layout.traps.tolist():
        ax.add_patch(Circle((x, y), r, color="tab:red", alpha=0.35))
    for a, b, c, d in layout.walls.tolist():
        ax.add_patch(Rectangle((a, b), c - a, d - b, color="0.3"))
    goal = layout.goal.tolist()
    ax.add_patch(Circle(goal, float(layout.goal_radius), color="tab:green", alpha=0.4))
    ax.plot(positions[:, 0], positions[:, 1], color="k", lw=1)
    ax.plot(*positions[0], "ko", ms=4)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), aspect="equal", title=title, xticks=[], yticks=[])


def _path(env, params, state, actions):
    positions = [env.position(state)]
    for t, action in enumerate(actions):
        _, state, *_ = env.step_env(jax.random.key(t), state, action, params)
        positions.append(env.position(state))
    return jnp.stack(positions)


def _steer(state, waypoint):
    """Turn towards ``waypoint``; thrust once roughly facing it."""
    offset = waypoint - state.robot.position
    error = jnp.arctan2(offset[1], offset[0]) - state.robot.heading
    error = jnp.mod(error + jnp.pi, 2 * jnp.pi) - jnp.pi
    return jnp.array([jnp.where(jnp.abs(error) < 0.5, 1.0, 0.0), jnp.clip(5 * error, -1, 1)])


def _waypoint_path(env, params, state, waypoints, steps):
    step = jax.jit(env.step_env)
    positions, index = [env.position(state)], 0
    for t in range(steps):
        target = jnp.asarray(waypoints[index])
        if (
            index < len(waypoints) - 1
            and float(jnp.linalg.norm(target - state.robot.position)) < 0.3
        ):
            index += 1
        _, state, _, done, _ = step(jax.random.key(t), state, _steer(state, target), params)
        positions.append(env.position(state))
        if done:
            break
    return jnp.stack(positions)


def main() -> None:
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=90)
    env, params = jaxsafe_envs.make("PointGoal-v1", level=2)
    _, state = env.reset(jax.random.key(4), params)
    actions = jnp.tile(jnp.array([1.0, 0.4]), (120, 1))
    path = _path(env, params, state, actions)
    _draw(axes[0], env.layout(state, params), path, "PointGoal-v1, level 2 (hazards, vases)")

    env, params = jaxsafe_envs.make("PointTrap-v1")
    _, state = env.reset(jax.random.key(0), params)
    robot = state.robot.replace(position=jnp.array([-2.5, -1.3]), heading=jnp.float32(0.0))
    state = state.replace(robot=robot)
    waypoints = [(-2.5, 1.0), (2.4, 1.0), (2.5, -1.3)]
    path = _waypoint_path(env, params, state, waypoints, 300)
    _draw(axes[1], env.layout(state, params), path, "PointTrap-v1 (the safe way round)")
    figure.tight_layout()
    out = Path(__file__).with_name("navigation_layouts.png")
    figure.savefig(out)
    print(out)


if __name__ == "__main__":
    main()
