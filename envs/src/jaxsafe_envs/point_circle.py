"""PointCircle: CPO's kinematic point that should run along a circle without leaving a strip.

Achiam, Held, Tamar & Abbeel, "Constrained Policy Optimization" (ICML 2017), §8 and App. 10.3.1,
with the rllab point robot (no physics integration: a heading change then a displacement):

    ψ' = ψ + a₁,   (Δx, Δy) = a₀ (cos ψ', sin ψ'),   (x', y') = clip((x, y) + (Δx, Δy), ±40)

    r = (−y' Δx + x' Δy) / (1 + | ‖(x', y')‖ − 15 |),    c = 1[|x'| > 2.5]

Finite actions are clipped to [−1, 1] × [−0.25, 0.25]; an action with a non-finite component is
replaced by zeros, flagged in ``info["invalid_action"]``, costs 1 and terminates the episode
(:mod:`jaxsafe_envs.invalid_action`). Reset draws (x, y, ψ) ~ N(0, 0.01²). The
observation keeps CPO's 9 dimensions, ``[x, y, ψ, Δx, Δy, Δψ, x, y, 0.5]`` (rllab's qpos, qvel
and torso centre of mass), with the velocity slots holding the last displacement instead of
rllab's frozen reset noise. (Δx, Δy) is the displacement actually made, after the position clip.
Episodes are truncated after 50 steps (the CPPO-EM setting), or after a uniformly drawn length
in ``[episode_length_low, episode_length_high)`` (CPO's 50–65) when the range is wider than one.
There is no other termination.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxsafe_envs import invalid_action

ACTION_LOW = (-1.0, -0.25)
ACTION_HIGH = (1.0, 0.25)
COM_HEIGHT = 0.5
"""z of the torso's centre of mass in rllab's point model, the constant last observation."""


@struct.dataclass
class PointCircleParams:
    """Traced constants of PointCircle; any of them can be vmapped over."""

    radius: jax.Array  # circle radius d (15)
    x_limit: jax.Array  # safe strip half-width (2.5)
    position_limit: jax.Array  # arena half-size (40)
    reset_noise_std: jax.Array  # std of the initial x, y, ψ (0.01)
    episode_length_low: jax.Array  # shortest episode
    episode_length_high: jax.Array  # one past the longest episode
    max_steps_in_episode: jax.Array  # equal to episode_length_high - 1


@struct.dataclass
class PointCircleState:
    x: jax.Array
    y: jax.Array
    heading: jax.Array
    last_displacement: jax.Array  # [3] (Δx, Δy, Δψ) of the last step
    time: jax.Array
    episode_length: jax.Array  # this episode's truncation step


class PointCircle(environment.Environment[PointCircleState, PointCircleParams]):
    """CPO's Point-Circle with cost in ``info["cost"]``.

    Args:
        radius: circle radius d.
        x_limit: the cost is paid while |x| exceeds it.
        position_limit: positions are clipped to ±position_limit.
        reset_noise_std: std of the Gaussian initial x, y and heading.
        episode_length: fixed horizon (50); ignored when ``episode_length_range`` is given.
        episode_length_range: ``(low, high)``: draw each episode's length uniformly from
            ``[low, high)``, e.g. ``(50, 65)`` as in the CPO paper.
    """

    def __init__(
        self,
        radius: float = 15.0,
        x_limit: float = 2.5,
        position_limit: float = 40.0,
        reset_noise_std: float = 0.01,
        episode_length: int = 50,
        episode_length_range: tuple[int, int] | None = None,
    ):
        super().__init__()
        low, high = episode_length_range or (episode_length, episode_length + 1)
        if not 1 <= low < high:
            raise ValueError(
                f"PointCircle: episode lengths need 1 <= low < high, got ({low}, {high})"
            )
        if radius <= 0 or x_limit < 0 or position_limit <= 0 or reset_noise_std < 0:
            raise ValueError(
                "PointCircle: radius and position_limit must be positive, "
                "x_limit and reset_noise_std non-negative"
            )
        self._default_params = PointCircleParams(
            radius=jnp.float32(radius),
            x_limit=jnp.float32(x_limit),
            position_limit=jnp.float32(position_limit),
            reset_noise_std=jnp.float32(reset_noise_std),
            episode_length_low=jnp.int32(low),
            episode_length_high=jnp.int32(high),
            max_steps_in_episode=jnp.int32(high - 1),
        )

    @property
    def default_params(self) -> PointCircleParams:
        return self._default_params

    @property
    def name(self) -> str:
        return "PointCircle-v1"

    def action_space(self, params: PointCircleParams | None = None) -> spaces.Box:
        return spaces.Box(jnp.array(ACTION_LOW), jnp.array(ACTION_HIGH), (2,), jnp.float32)

    def observation_space(self, params: PointCircleParams | None = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (9,), jnp.float32)

    def is_truncated(self, state: PointCircleState, params: PointCircleParams) -> jax.Array:
        return state.time >= state.episode_length

    def reset_env(
        self, key: jax.Array, params: PointCircleParams
    ) -> tuple[jax.Array, PointCircleState]:
        key_pose, key_length = jax.random.split(key)
        x, y, heading = params.reset_noise_std * jax.random.normal(key_pose, (3,))
        length = jax.random.randint(
            key_length, (), params.episode_length_low, params.episode_length_high
        )
        state = PointCircleState(
            x=x,
            y=y,
            heading=heading,
            last_displacement=jnp.zeros(3, jnp.float32),
            time=jnp.int32(0),
            episode_length=length,
        )
        return self._observation(state), state

    def invalid_action_cost(self, params: PointCircleParams) -> jax.Array:
        """The cost of an invalid action (``jaxsafe_envs.invalid_action``): 1, an unsafe step."""
        return jnp.float32(1.0)

    @invalid_action.guard
    def step_env(
        self,
        key: jax.Array,
        state: PointCircleState,
        action: jax.Array,
        params: PointCircleParams,
    ) -> tuple[jax.Array, PointCircleState, jax.Array, jax.Array, dict[str, Any]]:
        forward, turn = jnp.clip(action, jnp.array(ACTION_LOW), jnp.array(ACTION_HIGH))
        heading = state.heading + turn
        limit = params.position_limit
        x = jnp.clip(state.x + forward * jnp.cos(heading), -limit, limit)
        y = jnp.clip(state.y + forward * jnp.sin(heading), -limit, limit)
        dx, dy = x - state.x, y - state.y

        reward = (-y * dx + x * dy) / (1.0 + jnp.abs(jnp.hypot(x, y) - params.radius))
        cost = (jnp.abs(x) > params.x_limit).astype(jnp.float32)

        state = state.replace(
            x=x,
            y=y,
            heading=heading,
            last_displacement=jnp.stack([dx, dy, turn]),
            time=state.time + 1,
        )
        info = {"cost": cost}
        return self._observation(state), state, reward, jnp.bool_(False), info

    def _observation(self, state: PointCircleState) -> jax.Array:
        return jnp.concatenate(
            [
                jnp.stack([state.x, state.y, state.heading]),
                state.last_displacement,
                jnp.stack([state.x, state.y, jnp.float32(COM_HEIGHT)]),
            ]
        ).astype(jnp.float32)
