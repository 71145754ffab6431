"""A planar point robot in JAX: forward thrust along the heading and a turning command.

The robot approximates Safety Gym's ``Point`` (``safety_gymnasium/assets/xmls/point.xml``): a
sphere on two world-aligned slide joints and a vertical hinge, driven by a force along its heading
and a velocity servo on the hinge. Here both channels are first-order linear systems, integrated
exactly over one control interval ``dt`` under a zero-order hold of the action (so the update is
stable for any ``dt`` and time constant)::

    a = clip(action, -1, 1)                                 # a₀ thrust, a₁ turn
    ω' = ω_max a₁ + (ω − ω_max a₁) e^{−dt/τ_ω}              # angular velocity
    ψ' = wrap(ψ + dt ω')                                    # heading, wrapped to [−π, π)
    u  = v_max a₀ (cos ψ', sin ψ')                           # terminal velocity of the thrust
    v' = u + (v − u) e^{−dt/τ_v}                            # world-frame velocity
    p' = p + dt v'                                          # position (before any wall rule)

The defaults follow the MuJoCo model's own numbers, without the floor contact:

- thrust: the motor's force is ``gear × forcerange = 0.3 × 0.05 = 0.015`` N at most, the slide
  joints' damping is 0.01 N·s/m, so the terminal speed is ``v_max = 1.5`` m/s; the body's mass
  (density 1: a sphere of radius 0.1 and a 0.1 cube, 0.0052 kg) over that damping gives
  ``τ_v = 0.52`` s;
- turning: the hinge's servo torque is at most 0.015 N·m against a hinge damping of 0.005, so the
  turn rate settles at ``ω_max = 3`` rad/s, with a time constant (inertia 2.7e-5 kg·m² over the
  damping) of ``τ_ω = 0.0055`` s, i.e. at once on the 0.02 s control interval;
- ``dt = 0.02`` s: MuJoCo's 0.002 s timestep times Safety-Gymnasium's 10 frame skips.

Where it differs from the MuJoCo robot, plainly:

- No floor contact: MuJoCo's sliding friction (and the contact solver) slows the real robot, so
  ours is likely faster than Safety Gym's Point; there is no rolling, tipping or bouncing.
- Linear actuators: MuJoCo's motor saturates its force at ``|a₀| ≥ 0.05`` (ctrl range ±1 against
  a force range of ±0.05), so the real robot's thrust is nearly bang-bang; ours is proportional
  to ``a₀``, and the turn rate proportional to ``a₁``.
- No collisions with objects (vases, other bodies): the tasks decide what touching means. Walls
  (``PointTrap``) are handled by the task's collision rule, not by the robot.

Actions: finite values are clipped to ±1 (:func:`clip_action`). An action with a non-finite
component never reaches the robot: the tasks replace it by zeros first
(:mod:`jaxsafe_envs.invalid_action`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class PointRobotParams:
    """Traced constants of the robot (see the module docstring for their meaning)."""

    dt: jax.Array  # control interval, s (0.02)
    max_speed: jax.Array  # v_max, m/s (1.5)
    speed_time_constant: jax.Array  # τ_v, s (0.52)
    max_turn_rate: jax.Array  # ω_max, rad/s (3.0)
    turn_time_constant: jax.Array  # τ_ω, s (0.0055)


@struct.dataclass
class PointRobotState:
    position: jax.Array  # [2] world (x, y)
    velocity: jax.Array  # [2] world (vx, vy)
    heading: jax.Array  # [] ψ in [−π, π)
    angular_velocity: jax.Array  # [] ω


def make_params(
    dt: float = 0.02,
    max_speed: float = 1.5,
    speed_time_constant: float = 0.52,
    max_turn_rate: float = 3.0,
    turn_time_constant: float = 0.0055,
) -> PointRobotParams:
    """The robot's params, checked; defaults are the MuJoCo-derived values above."""
    if min(dt, max_speed, speed_time_constant, max_turn_rate, turn_time_constant) <= 0.0:
        raise ValueError(
            "point robot: dt, max_speed, speed_time_constant, max_turn_rate and "
            "turn_time_constant must be positive"
        )
    return PointRobotParams(
        dt=jnp.float32(dt),
        max_speed=jnp.float32(max_speed),
        speed_time_constant=jnp.float32(speed_time_constant),
        max_turn_rate=jnp.float32(max_turn_rate),
        turn_time_constant=jnp.float32(turn_time_constant),
    )


def initial_state(position: jax.Array, heading: jax.Array) -> PointRobotState:
    """The robot at rest at ``position`` [2] facing ``heading``."""
    return PointRobotState(
        position=jnp.asarray(position, jnp.float32),
        velocity=jnp.zeros(2, jnp.float32),
        heading=jnp.asarray(heading, jnp.float32),
        angular_velocity=jnp.float32(0.0),
    )


def clip_action(action: jax.Array) -> jax.Array:
    """``action`` [2] as float32, clipped to [−1, 1]."""
    return jnp.clip(jnp.asarray(action, jnp.float32), -1.0, 1.0)


def wrap_angle(angle: jax.Array) -> jax.Array:
    """``angle`` wrapped to [−π, π)."""
    return jnp.mod(angle + jnp.pi, 2.0 * jnp.pi) - jnp.pi


def step(state: PointRobotState, action: jax.Array, params: PointRobotParams) -> PointRobotState:
    """One control interval of the module docstring's equations; ``action`` [2] already
    clipped (see :func:`clip_action`)."""
    thrust, turn = action[0], action[1]
    decay_turn = jnp.exp(-params.dt / params.turn_time_constant)
    target_turn = params.max_turn_rate * turn
    angular_velocity = target_turn + (state.angular_velocity - target_turn) * decay_turn
    heading = wrap_angle(state.heading + params.dt * angular_velocity)

    decay_speed = jnp.exp(-params.dt / params.speed_time_constant)
    target = params.max_speed * thrust * jnp.stack([jnp.cos(heading), jnp.sin(heading)])
    velocity = target + (state.velocity - target) * decay_speed
    return PointRobotState(
        position=state.position + params.dt * velocity,
        velocity=velocity,
        heading=heading,
        angular_velocity=angular_velocity,
    )


def body_velocity(state: PointRobotState) -> jax.Array:
    """The velocity [2] in the robot's frame (forward, left), as Safety Gym's velocimeter."""
    cos, sin = jnp.cos(state.heading), jnp.sin(state.heading)
    vx, vy = state.velocity[0], state.velocity[1]
    return jnp.stack([cos * vx + sin * vy, -sin * vx + cos * vy])
