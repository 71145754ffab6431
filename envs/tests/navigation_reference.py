"""Plain numpy (float64, Python loops) versions of the navigation equations, for the tests.

Written from the module docstrings of ``point_robot``, ``lidar``, ``point_goal`` and
``point_trap`` (and Safety-Gymnasium's ``_obs_lidar_pseudo`` for the lidar), sharing no code with
them.
"""

from __future__ import annotations

import math

import numpy as np


def robot_step(robot: dict, action, dt, max_speed, tau_v, max_turn, tau_w) -> dict:
    """One step of the point robot; ``robot`` holds position, velocity, heading, omega."""
    a = [min(max(float(x), -1.0), 1.0) for x in action]
    target_w = max_turn * a[1]
    omega = target_w + (robot["omega"] - target_w) * math.exp(-dt / tau_w)
    heading = (robot["heading"] + dt * omega + math.pi) % (2.0 * math.pi) - math.pi
    target_v = max_speed * a[0] * np.array([math.cos(heading), math.sin(heading)])
    velocity = target_v + (robot["velocity"] - target_v) * math.exp(-dt / tau_v)
    return {
        "position": robot["position"] + dt * velocity,
        "velocity": velocity,
        "heading": heading,
        "omega": omega,
    }


def lidar(position, heading, objects, num_bins=16, max_dist=3.0, exp_gain=1.0,
          falloff="linear", alias=True) -> np.ndarray:  # fmt: skip
    """Safety Gym's pseudo-lidar of the points ``objects`` seen from (position, heading)."""
    obs = np.zeros(num_bins)
    bin_size = 2.0 * math.pi / num_bins
    for obj in objects:
        dx, dy = obj[0] - position[0], obj[1] - position[1]
        ego_x = math.cos(heading) * dx + math.sin(heading) * dy
        ego_y = -math.sin(heading) * dx + math.cos(heading) * dy
        dist = math.hypot(ego_x, ego_y)
        angle = math.atan2(ego_y, ego_x) % (2.0 * math.pi)
        k = min(int(angle / bin_size), num_bins - 1)
        if falloff == "linear":
            sensor = max(0.0, max_dist - dist) / max_dist
        else:
            sensor = math.exp(-exp_gain * dist)
        obs[k] = max(obs[k], sensor)
        if alias:
            fraction = (angle - k * bin_size) / bin_size
            obs[(k + 1) % num_bins] = max(obs[(k + 1) % num_bins], fraction * sensor)
            obs[(k - 1) % num_bins] = max(obs[(k - 1) % num_bins], (1.0 - fraction) * sensor)
    return obs


def nearest_points(position, boxes) -> np.ndarray:
    return np.array(
        [[min(max(position[0], b[0]), b[2]), min(max(position[1], b[1]), b[3])] for b in boxes]
    )


def collide(start, free: dict, walls, radius) -> dict:
    """PointTrap's rule: x then y, a component ending inside a grown wall is cancelled."""

    def inside(x, y):
        return any(
            b[0] - radius < x < b[2] + radius and b[1] - radius < y < b[3] + radius for b in walls
        )

    move = free["position"] - start
    velocity = free["velocity"].copy()
    x, y = start[0] + move[0], start[1]
    if inside(x, y):
        x, velocity[0] = start[0], 0.0
    y = start[1] + move[1]
    if inside(x, y):
        y, velocity[1] = start[1], 0.0
    return {**free, "position": np.array([x, y]), "velocity": velocity}


def body_velocity(robot: dict) -> np.ndarray:
    c, s = math.cos(robot["heading"]), math.sin(robot["heading"])
    vx, vy = robot["velocity"]
    return np.array([c * vx + s * vy, -s * vx + c * vy])
