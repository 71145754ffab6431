"""IcyLake: FrozenLake whose shortcut tiles are cheap on average but heavy-tailed in cost.

Tangri & Calliess, "VaR-CPO" (arXiv 2601.22993), §5.1 and Figure 3. The grid is Gymnasium's
FrozenLake with the holes turned into ice:

- deep snow (``S``, ``F``) costs ``snow_cost`` (2.0) on every entry, plus optional Gaussian noise;
- ice (``T``) costs ``ice_cost`` (0.5) plus, with probability ``slip_probability`` (0.1), a slip
  shock of ``slip_cost`` (10.0): mean 1.5 < 2.0, but a heavy tail;
- the goal (``G``) costs 0, pays ``goal_reward`` (1.0) and terminates the episode.

A move into a wall stays in place and pays the tile's cost again. On the 4×4 map the six-move
all-snow path costs exactly 10; a path over one ice tile costs 8.5 + 10·Bernoulli(0.1), so at
d = 15 and α = 0.05 only the all-snow path satisfies P(C ≥ d) ≤ α while an expected-cost
constraint prefers the ice.

Actions: 0 left, 1 down, 2 right, 3 up. An action outside {0, 1, 2, 3} (or a NaN) is replaced by
0, flagged in ``info["invalid_action"]``, costs max(snow_cost, ice_cost + slip_cost) (10.5, the
most a step can cost without snow noise) and terminates the episode
(:mod:`jaxsafe_envs.invalid_action`). Observation: the one-hot position, float32. With
``is_slippery`` the move goes the intended way with probability ``success_rate`` and each
perpendicular way with half the rest, as Gymnasium's FrozenLake.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from jaxsafe_envs import invalid_action

SNOW, ICE, GOAL = 0, 1, 2
"""Tile kinds; the start tile is snow."""

MAPS: dict[str, tuple[str, ...]] = {
    "4x4": ("SFFF", "FTFT", "FFFT", "TFFG"),
    "8x8": (
        "SFFFFFFF",
        "FFFFFFFF",
        "FFFTFFFF",
        "FFFFFTFF",
        "FFFTFFFF",
        "FTTFFFTF",
        "FTFFTFTF",
        "FFFTFFFG",
    ),
}
"""Gymnasium's FrozenLake maps with every hole ``H`` made ice ``T``."""

_TILE_KIND = {"S": SNOW, "F": SNOW, "T": ICE, "G": GOAL}

# Row and column change of actions 0 left, 1 down, 2 right, 3 up.
_ROW_STEP = np.array([0, 1, 0, -1], dtype=np.int32)
_COL_STEP = np.array([-1, 0, 1, 0], dtype=np.int32)


def _standard_normal_quantile(u: jax.Array) -> jax.Array:
    """Φ⁻¹(u) = √2 erf⁻¹(2u − 1), the inverse CDF of N(0, 1), for u in (0, 1).

    XLA's ``erf_inv`` (what ``jax.random.normal`` uses) costs a third of the flops of
    ``jax.scipy.special.ndtri``'s three-branch rational approximation (40 against 127 in XLA's
    cost analysis), about 12% of an IcyLake step.
    """
    return jnp.sqrt(2.0).astype(u.dtype) * jax.lax.erf_inv(2.0 * u - 1.0)


@struct.dataclass
class IcyLakeParams:
    """Traced constants of IcyLake; any of them can be vmapped over."""

    tiles: jax.Array  # [rows * cols] int32 tile kinds (SNOW, ICE, GOAL)
    start: jax.Array  # int32 index of the start tile
    is_slippery: jax.Array  # bool
    success_rate: jax.Array  # probability of the intended move when slippery
    snow_cost: jax.Array
    snow_cost_std: jax.Array  # Gaussian noise on the snow cost (0 in the paper)
    ice_cost: jax.Array
    slip_probability: jax.Array
    slip_cost: jax.Array
    goal_reward: jax.Array
    max_steps_in_episode: jax.Array  # truncation horizon


@struct.dataclass
class IcyLakeState:
    position: jax.Array  # int32 flat tile index, row * cols + col
    time: jax.Array  # int32 steps taken in this episode


class IcyLake(environment.Environment[IcyLakeState, IcyLakeParams]):
    """IcyLake as a gymnax environment with its per-step cost in ``info["cost"]``.

    Args:
        map_name: ``"4x4"`` (the paper's) or ``"8x8"``; ignored when ``desc`` is given.
        desc: a custom map, one string per row of ``S``, ``F``, ``T`` and ``G``.
        is_slippery: slippery dynamics as Gymnasium's FrozenLake (off in the paper).
        success_rate: probability of the intended move when slippery.
        snow_cost, snow_cost_std, ice_cost, slip_probability, slip_cost, goal_reward: as in
            the module docstring.
        max_steps_in_episode: truncation horizon; 100 on 4×4 and 200 on larger maps by default.
    """

    def __init__(
        self,
        map_name: str = "4x4",
        desc: tuple[str, ...] | list[str] | None = None,
        is_slippery: bool = False,
        success_rate: float = 1.0 / 3.0,
        snow_cost: float = 2.0,
        snow_cost_std: float = 0.0,
        ice_cost: float = 0.5,
        slip_probability: float = 0.1,
        slip_cost: float = 10.0,
        goal_reward: float = 1.0,
        max_steps_in_episode: int | None = None,
    ):
        super().__init__()
        if desc is None:
            if map_name not in MAPS:
                raise ValueError(f"IcyLake: unknown map_name {map_name!r}; valid: {sorted(MAPS)}")
            desc = MAPS[map_name]
        self.desc = tuple(desc)
        self.rows, self.cols = len(self.desc), len(self.desc[0])
        if any(len(row) != self.cols for row in self.desc):
            raise ValueError("IcyLake: every row of desc must have the same length")
        letters = "".join(self.desc)
        if set(letters) - set(_TILE_KIND) or letters.count("S") != 1 or "G" not in letters:
            raise ValueError("IcyLake: desc needs one 'S', at least one 'G', and only S, F, T, G")
        if not 0.0 <= slip_probability <= 1.0 or not 0.0 <= success_rate <= 1.0:
            raise ValueError("IcyLake: slip_probability and success_rate must lie in [0, 1]")
        if min(snow_cost, ice_cost, slip_cost, snow_cost_std) < 0.0:
            raise ValueError("IcyLake: costs and snow_cost_std must be non-negative")
        if max_steps_in_episode is None:
            max_steps_in_episode = 100 if self.rows * self.cols <= 16 else 200
        self._default_params = IcyLakeParams(
            tiles=jnp.array([_TILE_KIND[c] for c in letters], dtype=jnp.int32),
            start=jnp.int32(letters.index("S")),
            is_slippery=jnp.bool_(is_slippery),
            success_rate=jnp.float32(success_rate),
            snow_cost=jnp.float32(snow_cost),
            snow_cost_std=jnp.float32(snow_cost_std),
            ice_cost=jnp.float32(ice_cost),
            slip_probability=jnp.float32(slip_probability),
            slip_cost=jnp.float32(slip_cost),
            goal_reward=jnp.float32(goal_reward),
            max_steps_in_episode=jnp.int32(max_steps_in_episode),
        )

    @property
    def default_params(self) -> IcyLakeParams:
        return self._default_params

    @property
    def name(self) -> str:
        return "IcyLake-v1"

    @property
    def num_actions(self) -> int:
        return 4

    def action_space(self, params: IcyLakeParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(4)

    def observation_space(self, params: IcyLakeParams | None = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.rows * self.cols,), jnp.float32)

    def reset_env(self, key: jax.Array, params: IcyLakeParams) -> tuple[jax.Array, IcyLakeState]:
        state = IcyLakeState(position=params.start, time=jnp.int32(0))
        return self._observation(state.position), state

    def invalid_action_cost(self, params: IcyLakeParams) -> jax.Array:
        """The cost of an invalid action (``jaxsafe_envs.invalid_action``): the most a step can
        cost without snow noise, max(snow_cost, ice_cost + slip_cost)."""
        return jnp.maximum(params.snow_cost, params.ice_cost + params.slip_cost)

    @invalid_action.guard
    def step_env(
        self, key: jax.Array, state: IcyLakeState, action: jax.Array, params: IcyLakeParams
    ) -> tuple[jax.Array, IcyLakeState, jax.Array, jax.Array, dict[str, Any]]:
        # One draw of three uniforms serves the step: the move, the slip and the snow noise.
        u_move, u_slip, u_snow = jax.random.uniform(key, (3,), minval=1e-7, maxval=1.0)
        direction = self._direction(u_move, jnp.asarray(action, jnp.int32), params)

        row, col = jnp.divmod(state.position, self.cols)
        row = jnp.clip(row + jnp.asarray(_ROW_STEP)[direction], 0, self.rows - 1)
        col = jnp.clip(col + jnp.asarray(_COL_STEP)[direction], 0, self.cols - 1)
        position = row * self.cols + col
        tile = params.tiles[position]

        entered_ice = tile == ICE
        slipped = entered_ice & (u_slip < params.slip_probability)
        snow_noise = params.snow_cost_std * _standard_normal_quantile(u_snow)
        cost = jnp.select(
            [tile == SNOW, entered_ice],
            [
                jnp.maximum(params.snow_cost + snow_noise, 0.0),
                params.ice_cost + params.slip_cost * slipped,
            ],
            default=0.0,
        ).astype(jnp.float32)
        reached_goal = tile == GOAL
        reward = jnp.where(reached_goal, params.goal_reward, 0.0).astype(jnp.float32)

        state = IcyLakeState(position=position, time=state.time + 1)
        info = {"cost": cost, "entered_ice": entered_ice, "slipped": slipped}
        return self._observation(position), state, reward, reached_goal, info

    def _direction(self, u: jax.Array, action: jax.Array, params: IcyLakeParams) -> jax.Array:
        """The direction actually moved, from a uniform ``u``: intended, or perpendicular."""
        veer = (1.0 - params.success_rate) / 2.0
        offset = jnp.where(
            u < params.success_rate, 0, jnp.where(u < params.success_rate + veer, -1, 1)
        )
        return jnp.where(params.is_slippery, (action + offset) % 4, action)

    def _observation(self, position: jax.Array) -> jax.Array:
        return jax.nn.one_hot(position, self.rows * self.cols, dtype=jnp.float32)
