"""PointTrap: CSC's point-agent navigation avoiding traps, with a health counter.

Bharadhwaj et al., "Conservative Safety Critics for Exploration" (ICLR 2021), §5: a 2D point agent
navigates a maze while avoiding traps; a health counter drops for every step spent in a trap and
the agent dies (fails, the episode ends) at zero; episodes last 500 steps. The paper gives nothing
more, so the maze, traps, health and reward below are ours.

The maze (world metres; the robot of :mod:`jaxsafe_envs.point_robot` with a 0.05 s control
interval)::

    y = 1.6  ┌───────────────────────────────────────────┐
             │  S         upper corridor (safe)           │
    y = 0.4  │  S   ┌────────── divider ──────────┐       │
             │  S   │                             │       │
    y = −0.6 │  S   └─────────────────────────────┘       │
             │  S ─────────────── (T) ──────────────── G │   lower corridor: the short way
    y = −2.0 └───────────────────────────────────────────┘
          x = −3   −2                0                  2   3

Starts ``S`` are uniform in the column left of the divider, (−2.5, −0.2) ± (0.3, 1.6), with a
uniform heading; the goal ``G`` is the disc of radius 0.3 at (2.5, −1.3). Two trap discs of
radius 0.45 at (0, −1.6) and (0, −1.0) close the lower corridor: any crossing spends at least
0.67 m in a trap, i.e. 9 steps at the robot's top speed (1.5 m/s × 0.05 s). Each step in a trap
drains 1 health, or 2 with probability ``trap_extra_damage_probability`` (0.1); with ``health``
12 a straight crossing at top speed (9–10 steps in the traps) dies with probability ≈ 0.05–0.26,
a slower one surely. From a start below the divider the way round through the upper corridor
is 3–5 m longer (a scripted driver took ~150 steps against ~85 from (−2.5, −1.3)): the short
route tempts through the traps, at a risk. Starting
anywhere in the left column, some episodes begin next to the upper corridor, so the safe route
can be found by exploration.

Collision rule (walls are axis-aligned boxes; the robot a disc of radius ``robot_radius`` 0.1):
the move ``dt v'`` is applied one axis at a time, x then y; a component that would put the
robot's centre strictly inside a wall grown by ``robot_radius`` is cancelled and that velocity
component set to 0, so the robot stops against walls and slides along them. A step moves at most
``max_speed × dt`` (0.075 m; ``|v|`` never exceeds ``max_speed``), less than any grown wall's
thickness (checked when the environment is built), so the robot cannot pass through a wall.

Each step, with ``p`` the robot's new position and ``d = |p − G|``::

    health' = health − 1[p inside a trap] (1 + 1[u < trap_extra_damage_probability])
                                                      (u ~ U(0, 1) per step; starts at ``health``)
    died    = health' ≤ 0                             → cost 1, terminated
    success = d ≤ goal_size and not died              → terminated
    reward  = reward_distance (d_prev − d) + reward_goal 1[success]        (1.0, 10.0)

``info``: ``cost`` (1 on the death step, else 0), ``success``, ``died``, ``health`` (left, as a
fraction), ``in_trap`` and ``invalid_action``. An action with a non-finite component is replaced
by zeros, flagged there, costs 1 (as a death) and terminates the episode
(:mod:`jaxsafe_envs.invalid_action`); finite actions are clipped to [−1, 1].
Truncated at 500 steps.

Observation (float32, 40)::

    [x, y, vx, vy, ω, sin ψ, cos ψ, health fraction,  walls lidar (16),  traps lidar (16)]

Lidar: :mod:`jaxsafe_envs.lidar` (16 bins, max distance 3, linear falloff, aliasing); a wall is
seen at its point nearest the robot, a trap at its centre.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from jaxsafe_envs import invalid_action, lidar, point_robot
from jaxsafe_envs.navigation_layout import NavigationLayout

ARENA = (-3.0, -2.0, 3.0, 1.6)
"""Interior of the outer walls (x_min, y_min, x_max, y_max)."""
WALL_THICKNESS = 0.2
WALLS = (
    (ARENA[0] - WALL_THICKNESS, ARENA[1] - WALL_THICKNESS, ARENA[2] + WALL_THICKNESS, ARENA[1]),
    (ARENA[0] - WALL_THICKNESS, ARENA[3], ARENA[2] + WALL_THICKNESS, ARENA[3] + WALL_THICKNESS),
    (ARENA[0] - WALL_THICKNESS, ARENA[1], ARENA[0], ARENA[3]),
    (ARENA[2], ARENA[1], ARENA[2] + WALL_THICKNESS, ARENA[3]),
    (-2.0, -0.6, 2.0, 0.4),  # the divider
)
"""The default maze: four outer walls and the divider, boxes (x_min, y_min, x_max, y_max)."""
TRAPS = ((0.0, -1.6, 0.45), (0.0, -1.0, 0.45))
"""The default trap discs (x, y, radius), closing the lower corridor."""
START = (-2.5, -0.2)
START_NOISE = (0.3, 1.6)
"""Start positions are uniform in START ± START_NOISE: the whole column left of the divider."""
GOAL = (2.5, -1.3)


@struct.dataclass
class PointTrapParams:
    """Traced constants of PointTrap; any of them can be vmapped over."""

    robot: point_robot.PointRobotParams
    walls: jax.Array  # [W, 4] boxes (x_min, y_min, x_max, y_max)
    traps: jax.Array  # [K, 3] discs (x, y, radius)
    start: jax.Array  # [2]
    start_noise: jax.Array  # [2] half-widths of the uniform noise on the start position
    goal: jax.Array  # [2]
    goal_size: jax.Array
    robot_radius: jax.Array
    health: jax.Array  # int32 initial health
    trap_extra_damage_probability: jax.Array  # chance that a step in a trap drains 2, not 1
    reward_distance: jax.Array
    reward_goal: jax.Array
    lidar_max_distance: jax.Array
    lidar_exp_gain: jax.Array
    max_steps_in_episode: jax.Array


@struct.dataclass
class PointTrapState:
    robot: point_robot.PointRobotState
    health: jax.Array  # int32 left
    goal_distance: jax.Array  # distance to the goal after the last step (d_prev)
    time: jax.Array


class PointTrap(environment.Environment[PointTrapState, PointTrapParams]):
    """CSC's trap maze with its failure cost in ``info["cost"]`` (see the module docstring).

    Args:
        health: initial health (12).
        trap_extra_damage_probability: chance that a step in a trap drains 2 health, not 1 (0.1).
        reward_distance, reward_goal: reward coefficients (1.0, 10.0).
        goal_size: goal radius (0.3).
        robot_radius: the robot's radius for the wall collisions (0.1).
        start_noise: half-widths (x, y) of the uniform start region around ``start``.
        walls: boxes ``(x_min, y_min, x_max, y_max)`` replacing the default maze.
        traps: discs ``(x, y, radius)`` replacing the default traps.
        start, goal: positions replacing the defaults.
        lidar_num_bins, lidar_max_distance, lidar_exp_gain, lidar_falloff, lidar_alias: the lidar.
        episode_length: truncation horizon (500).
        dt, max_speed, speed_time_constant, max_turn_rate, turn_time_constant: the robot.
    """

    def __init__(
        self,
        health: int = 12,
        trap_extra_damage_probability: float = 0.1,
        reward_distance: float = 1.0,
        reward_goal: float = 10.0,
        goal_size: float = 0.3,
        robot_radius: float = 0.1,
        start_noise: tuple[float, float] = START_NOISE,
        walls: tuple | None = None,
        traps: tuple | None = None,
        start: tuple[float, float] = START,
        goal: tuple[float, float] = GOAL,
        lidar_num_bins: int = 16,
        lidar_max_distance: float = 3.0,
        lidar_exp_gain: float = 1.0,
        lidar_falloff: str = "linear",
        lidar_alias: bool = True,
        episode_length: int = 500,
        dt: float = 0.05,
        max_speed: float = 1.5,
        speed_time_constant: float = 0.52,
        max_turn_rate: float = 3.0,
        turn_time_constant: float = 0.0055,
    ):
        super().__init__()
        walls_array = np.asarray(WALLS if walls is None else walls, np.float32).reshape(-1, 4)
        traps_array = np.asarray(TRAPS if traps is None else traps, np.float32).reshape(-1, 3)
        if health < 1 or episode_length < 1 or lidar_num_bins < 1:
            raise ValueError("PointTrap: health, episode_length and lidar_num_bins must be >= 1")
        if not 0.0 <= trap_extra_damage_probability <= 1.0:
            raise ValueError("PointTrap: trap_extra_damage_probability must lie in [0, 1]")
        if min(goal_size, robot_radius, *start_noise) < 0.0 or lidar_max_distance <= 0.0:
            raise ValueError(
                "PointTrap: goal_size, robot_radius and start_noise must be non-negative, "
                "lidar_max_distance positive"
            )
        if lidar_falloff not in lidar.FALLOFFS:
            raise ValueError(
                f"PointTrap: lidar_falloff must be one of {lidar.FALLOFFS}, got {lidar_falloff!r}"
            )
        thinnest = np.min(walls_array[:, 2:] - walls_array[:, :2]) + 2.0 * robot_radius
        if not thinnest > max_speed * dt:
            raise ValueError(
                f"PointTrap: every wall grown by robot_radius must be thicker than one step's "
                f"largest move max_speed * dt = {max_speed * dt:g} (thinnest: {thinnest:g})"
            )
        self.num_bins = lidar_num_bins
        self.falloff = lidar_falloff
        self.alias = lidar_alias
        self._default_params = PointTrapParams(
            robot=point_robot.make_params(
                dt, max_speed, speed_time_constant, max_turn_rate, turn_time_constant
            ),
            walls=jnp.asarray(walls_array),
            traps=jnp.asarray(traps_array),
            start=jnp.asarray(start, jnp.float32),
            start_noise=jnp.asarray(start_noise, jnp.float32),
            goal=jnp.asarray(goal, jnp.float32),
            goal_size=jnp.float32(goal_size),
            robot_radius=jnp.float32(robot_radius),
            health=jnp.int32(health),
            trap_extra_damage_probability=jnp.float32(trap_extra_damage_probability),
            reward_distance=jnp.float32(reward_distance),
            reward_goal=jnp.float32(reward_goal),
            lidar_max_distance=jnp.float32(lidar_max_distance),
            lidar_exp_gain=jnp.float32(lidar_exp_gain),
            max_steps_in_episode=jnp.int32(episode_length),
        )

    @property
    def default_params(self) -> PointTrapParams:
        return self._default_params

    @property
    def name(self) -> str:
        return "PointTrap-v1"

    def action_space(self, params: PointTrapParams | None = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observation_space(self, params: PointTrapParams | None = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (8 + 2 * self.num_bins,), jnp.float32)

    def reset_env(
        self, key: jax.Array, params: PointTrapParams
    ) -> tuple[jax.Array, PointTrapState]:
        key_position, key_heading = jax.random.split(key)
        noise = jax.random.uniform(
            key_position, (2,), minval=-params.start_noise, maxval=params.start_noise
        )
        position = params.start + noise
        heading = jax.random.uniform(key_heading, (), minval=-jnp.pi, maxval=jnp.pi)
        state = PointTrapState(
            robot=point_robot.initial_state(position, heading),
            health=params.health,
            goal_distance=jnp.linalg.norm(position - params.goal),
            time=jnp.int32(0),
        )
        return self._observation(state, params), state

    def invalid_action_cost(self, params: PointTrapParams) -> jax.Array:
        """The cost of an invalid action (``jaxsafe_envs.invalid_action``): 1, as a death."""
        return jnp.float32(1.0)

    @invalid_action.guard
    def step_env(
        self,
        key: jax.Array,
        state: PointTrapState,
        action: jax.Array,
        params: PointTrapParams,
    ) -> tuple[jax.Array, PointTrapState, jax.Array, jax.Array, dict[str, Any]]:
        free = point_robot.step(state.robot, point_robot.clip_action(action), params.robot)
        robot = collide(state.robot.position, free, params.walls, params.robot_radius)
        position = robot.position

        in_trap = jnp.any(
            jnp.linalg.norm(position - params.traps[:, :2], axis=-1) <= params.traps[:, 2]
        )
        extra_damage = jax.random.uniform(key) < params.trap_extra_damage_probability
        damage = in_trap.astype(jnp.int32) * (1 + extra_damage.astype(jnp.int32))
        health = state.health - damage
        died = health <= 0
        goal_distance = jnp.linalg.norm(position - params.goal)
        success = (goal_distance <= params.goal_size) & ~died
        reward = params.reward_distance * (state.goal_distance - goal_distance)
        reward = reward + params.reward_goal * success
        cost = died.astype(jnp.float32)

        state = PointTrapState(
            robot=robot, health=health, goal_distance=goal_distance, time=state.time + 1
        )
        info = {
            "cost": cost,
            "success": success,
            "died": died,
            "health": self._health_fraction(state, params),
            "in_trap": in_trap,
        }
        obs = self._observation(state, params)
        return obs, state, reward.astype(jnp.float32), died | success, info

    def _health_fraction(self, state: PointTrapState, params: PointTrapParams) -> jax.Array:
        return (jnp.maximum(state.health, 0) / params.health).astype(jnp.float32)

    def _observation(self, state: PointTrapState, params: PointTrapParams) -> jax.Array:
        robot = state.robot

        def ring(objects):
            return lidar.pseudo_lidar(
                robot.position,
                robot.heading,
                objects,
                self.num_bins,
                params.lidar_max_distance,
                params.lidar_exp_gain,
                self.falloff,
                self.alias,
            )

        return jnp.concatenate(
            [
                robot.position,
                robot.velocity,
                jnp.stack(
                    [
                        robot.angular_velocity,
                        jnp.sin(robot.heading),
                        jnp.cos(robot.heading),
                        self._health_fraction(state, params),
                    ]
                ),
                ring(lidar.nearest_points_on_boxes(robot.position, params.walls)),
                ring(params.traps[:, :2]),
            ]
        ).astype(jnp.float32)

    def layout(self, state: PointTrapState, params: PointTrapParams) -> NavigationLayout:
        """The maze, the traps and the goal (the same for every environment state)."""
        del state
        return NavigationLayout(
            extent=jnp.concatenate(
                [jnp.min(params.walls[:, :2], axis=0), jnp.max(params.walls[:, 2:], axis=0)]
            ),
            goal=params.goal,
            goal_radius=params.goal_size,
            hazards=jnp.zeros((0, 3), jnp.float32),
            traps=params.traps,
            walls=params.walls,
        )

    def position(self, state: PointTrapState) -> jax.Array:
        return state.robot.position


def collide(
    start: jax.Array,
    free: point_robot.PointRobotState,
    walls: jax.Array,
    radius: jax.Array,
) -> point_robot.PointRobotState:
    """The collision rule: ``free`` (the robot after an unobstructed step from ``start`` [2])
    with each axis of its move cancelled, and that velocity component zeroed, where it would put
    the robot's centre strictly inside a wall [W, 4] grown by ``radius``."""

    def inside(point):
        low, high = walls[:, :2] - radius, walls[:, 2:] + radius
        return jnp.any(jnp.all((point > low) & (point < high), axis=-1))

    move = free.position - start
    x = start[0] + move[0]
    blocked_x = inside(jnp.stack([x, start[1]]))
    x = jnp.where(blocked_x, start[0], x)
    y = start[1] + move[1]
    blocked_y = inside(jnp.stack([x, y]))
    y = jnp.where(blocked_y, start[1], y)
    velocity = jnp.where(jnp.stack([blocked_x, blocked_y]), 0.0, free.velocity)
    return free.replace(position=jnp.stack([x, y]), velocity=velocity)
