"""What a picture of a planar navigation task draws: the arena, goal, hazards, traps and walls.

Every navigation environment (``PointGoal-v1``, ``PointTrap-v1``, ``PointHazards-v1``) exposes

    env.layout(state, params) -> NavigationLayout      # one environment's current layout
    env.position(state) -> [2]                          # the robot's (x, y)

so that evaluation can draw trajectories over the layout without knowing the task. Arrays are
world coordinates; a task without some kind of object gives it a leading size of 0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax


class NavigationLayout(NamedTuple):
    """One environment's layout, in world coordinates."""

    extent: jax.Array  # [4] (x_min, y_min, x_max, y_max) of the arena to draw
    goal: jax.Array  # [2] centre of the goal region
    goal_radius: jax.Array  # [] its radius
    hazards: jax.Array  # [H, 3] discs (x, y, radius) that cost while the robot is inside
    traps: jax.Array  # [K, 3] discs (x, y, radius) that drain health (PointTrap), else [0, 3]
    walls: jax.Array  # [W, 4] solid axis-aligned boxes (x_min, y_min, x_max, y_max), else [0, 4]
