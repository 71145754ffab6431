"""PointHazards: the flipping-based policy paper's numerical example, a noisy point near two discs.

"Flipping-based Policy for Chance-Constrained Markov Decision Processes" (NeurIPS 2024), §5.1
and App. K. A point s ∈ ℝ² is driven by a velocity command a and a Gaussian disturbance d:

    s_{k+1} = s_k + dt (a_k + d_k),   d_k ~ N(0, σ² I),  σ = 0.6,   s_0 = (0, 0)

    r_k = 1 / (‖s_{k+1} − s_g‖² + 0.1),   s_g = (15, 15)

    c_k = 1[s_{k+1} ∈ D₁ ∪ D₂],   D₁ = B((7.5, 10), 2.5),  D₂ = B((10, 5), 2.5)  (closed discs)

    violated_k = violated_{k−1} ∨ c_k > 0        (the event of the joint chance constraint
                                                  P(∃k ≤ T: s_k ∈ D₁ ∪ D₂) ≤ α)

d_k is ``noise_std * jax.random.normal(key, (2,))`` of the key gymnax's ``step`` hands to
``step_env`` (the first half of its split), so a test can replay the draws. Reward and cost are
those of the state the step leads to. ``info["cost"]`` is c_k and
``info["violated"]`` is the latch, carried in the state: true from the first entry into a disc
to the end of the episode. Episodes are truncated after T steps and never terminated (but by an
invalid action): the paper's objective sums the reward over the whole horizon (staying at the
goal keeps paying) and its constraint is over the whole horizon, so neither reaching the goal
nor entering a disc ends the episode.

The paper's dt, action bounds and T were lost in extraction; ours (defaults, all options):

- **dt = 0.25, a ∈ [−1, 1]², T = 120.** The straight line from start to goal cuts D₁ (its
  distance to (7.5, 10) is 2.5/√2 ≈ 1.77 < 2.5). Between the discs the gap is
  ‖c₁ − c₂‖ − 5 = √31.25 − 5 ≈ 0.59 wide, and under 1.0 wide for about 2 length units. One step
  moves at most dt·√2 ≈ 0.35 and adds noise of std dt·σ = 0.15 per axis, so the gap's half-width
  0.295 is about 2 noise stds: a policy that threads it risks an entry at every step of the
  narrow part, a real gamble. A path through the gap is about 22 long (≈ 75 steps at full
  speed: the box caps the speed at 1 along an axis), the detour north of D₁ about 24 (≈ 90
  steps); T = 120 steps (30 time units) leaves time to spare on either and rewards arriving
  early, since a step at the goal pays up to 1/0.1 = 10.
  A scripted path follower (speed 1.4, one-step lookahead; 20,000 episodes, the one of
  ``test_default_geometry_makes_the_gap_a_gamble``) threading the gap enters a disc in 21% of
  the episodes for a mean return of about 300 (goal reached at step ≈ 80); going north of D₁
  it enters none in 20,000 for about 195 (step ≈ 94). A smaller dt makes the gap safe
  (dt = 0.1: no entries), a larger one makes it near certain failure (dt = 0.5: ≈ 0.66).
- **Actions.** A finite action is clipped to the box. An action with a non-finite component
  (NaN or ±inf) is replaced by 0 as a whole (the point drifts with the disturbance only),
  ``info["invalid_action"]`` is true, the step costs 1 and the episode terminates
  (:mod:`jaxsafe_envs.invalid_action`); the state never becomes NaN.
- **Observation** (float32, 4 + H + 2): ``[x, y, g_x − x, g_y − y, e₁ … e_H, violated,
  k / T]``, with e_i = ‖s − c_i‖ − r_i the signed distance to disc i's edge (negative inside).
  Position is the paper's state; the goal offset and edge distances are functions of it that a
  network would otherwise have to learn (they make going to the goal and keeping away from a
  disc linear in the input). The latch and the elapsed fraction of the horizon complete the
  Markov state of the finite-horizon chance-constrained problem: the optimal policy may take a
  risk that it would not take earlier, or none once the constraint is already violated.

The drawing interface of :mod:`jaxsafe_envs.navigation_layout` is implemented by
:meth:`PointHazards.layout` and :meth:`PointHazards.position`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from jaxsafe_envs import invalid_action
from jaxsafe_envs.navigation_layout import NavigationLayout

DEFAULT_HAZARDS = ((7.5, 10.0, 2.5), (10.0, 5.0, 2.5))
"""The paper's dangerous regions, discs (x, y, radius)."""

GOAL_DRAW_RADIUS = 0.5
"""Radius of the goal drawn in pictures; the reward has no goal region."""


@struct.dataclass
class PointHazardsParams:
    """Traced constants of PointHazards; any of them can be vmapped over."""

    dt: jax.Array  # sampling time (0.25)
    noise_std: jax.Array  # σ of the per-axis disturbance (0.6)
    action_limit: jax.Array  # actions are clipped to [−limit, limit]² (1.0)
    start: jax.Array  # [2] initial position (0, 0)
    goal: jax.Array  # [2] goal s_g (15, 15)
    hazards: jax.Array  # [H, 3] discs (x, y, radius)
    reward_offset: jax.Array  # the 0.1 in 1 / (‖s − s_g‖² + 0.1)
    max_steps_in_episode: jax.Array  # horizon T (120)


@struct.dataclass
class PointHazardsState:
    position: jax.Array  # [2] s_k
    violated: jax.Array  # bool: some s_j, j ≤ k, lay in a disc this episode
    time: jax.Array  # int32 steps taken in this episode


class PointHazards(environment.Environment[PointHazardsState, PointHazardsParams]):
    """The flipping paper's numerical example with its cost in ``info["cost"]``.

    ``info`` also holds ``violated`` (the joint-constraint latch), ``invalid_action`` (the
    action had a non-finite component: replaced by 0, cost 1, episode terminated) and
    ``goal_distance`` (‖s − s_g‖).

    Args:
        dt: sampling time.
        noise_std: std σ of each axis of the velocity disturbance d_k.
        action_limit: the action box is [−action_limit, action_limit]².
        max_steps_in_episode: horizon T; the episode is truncated after T steps.
        start: initial position s_0.
        goal: goal position s_g.
        hazards: discs (x, y, radius); the number of discs fixes the observation size.
        reward_offset: the constant added to the squared goal distance in the reward.
    """

    def __init__(
        self,
        dt: float = 0.25,
        noise_std: float = 0.6,
        action_limit: float = 1.0,
        max_steps_in_episode: int = 120,
        start: Sequence[float] = (0.0, 0.0),
        goal: Sequence[float] = (15.0, 15.0),
        hazards: Sequence[Sequence[float]] = DEFAULT_HAZARDS,
        reward_offset: float = 0.1,
    ):
        super().__init__()
        hazards = jnp.asarray(hazards, jnp.float32).reshape(-1, 3)
        if dt <= 0 or noise_std < 0 or action_limit <= 0 or reward_offset <= 0:
            raise ValueError(
                "PointHazards: dt, action_limit and reward_offset must be positive, "
                "noise_std non-negative"
            )
        if max_steps_in_episode < 1:
            raise ValueError(
                f"PointHazards: max_steps_in_episode must be >= 1, got {max_steps_in_episode}"
            )
        if len(start) != 2 or len(goal) != 2 or bool(jnp.any(hazards[:, 2] <= 0)):
            raise ValueError(
                "PointHazards: start and goal are (x, y); hazard radii must be positive"
            )
        self.num_hazards = hazards.shape[0]
        self._default_params = PointHazardsParams(
            dt=jnp.float32(dt),
            noise_std=jnp.float32(noise_std),
            action_limit=jnp.float32(action_limit),
            start=jnp.asarray(start, jnp.float32),
            goal=jnp.asarray(goal, jnp.float32),
            hazards=hazards,
            reward_offset=jnp.float32(reward_offset),
            max_steps_in_episode=jnp.int32(max_steps_in_episode),
        )

    @property
    def default_params(self) -> PointHazardsParams:
        return self._default_params

    @property
    def name(self) -> str:
        return "PointHazards-v1"

    def action_space(self, params: PointHazardsParams | None = None) -> spaces.Box:
        limit = (params or self.default_params).action_limit
        return spaces.Box(-limit, limit, (2,), jnp.float32)

    def observation_space(self, params: PointHazardsParams | None = None) -> spaces.Box:
        return spaces.Box(-jnp.inf, jnp.inf, (self.num_hazards + 6,), jnp.float32)

    def reset_env(
        self, key: jax.Array, params: PointHazardsParams
    ) -> tuple[jax.Array, PointHazardsState]:
        del key  # the start is fixed; all randomness is in the transitions
        state = PointHazardsState(
            position=params.start, violated=jnp.bool_(False), time=jnp.int32(0)
        )
        return self._observation(state, params), state

    def invalid_action_cost(self, params: PointHazardsParams) -> jax.Array:
        """The cost of an invalid action (``jaxsafe_envs.invalid_action``): 1, an unsafe step."""
        return jnp.float32(1.0)

    @invalid_action.guard
    def step_env(
        self,
        key: jax.Array,
        state: PointHazardsState,
        action: jax.Array,
        params: PointHazardsParams,
    ) -> tuple[jax.Array, PointHazardsState, jax.Array, jax.Array, dict[str, Any]]:
        action = jnp.clip(
            jnp.asarray(action, jnp.float32), -params.action_limit, params.action_limit
        )
        disturbance = params.noise_std * jax.random.normal(key, (2,), jnp.float32)
        position = state.position + params.dt * (action + disturbance)

        goal_distance = jnp.linalg.norm(position - params.goal)
        reward = 1.0 / (jnp.sum(jnp.square(position - params.goal)) + params.reward_offset)
        inside = jnp.any(_edge_distances(position, params.hazards) <= 0.0)
        violated = state.violated | inside

        state = state.replace(position=position, violated=violated, time=state.time + 1)
        info = {
            "cost": inside.astype(jnp.float32),
            "violated": violated,
            "goal_distance": goal_distance,
        }
        return self._observation(state, params), state, reward, jnp.bool_(False), info

    def layout(self, state: PointHazardsState, params: PointHazardsParams) -> NavigationLayout:
        """The discs and the goal (drawn with radius ``GOAL_DRAW_RADIUS``); the arena drawn is
        the box around start, goal and discs with a margin of 2."""
        del state  # the layout is fixed
        centres, radii = params.hazards[:, :2], params.hazards[:, 2:]
        corners = jnp.concatenate(
            [params.start[None], params.goal[None], centres - radii, centres + radii]
        )
        low, high = corners.min(axis=0) - 2.0, corners.max(axis=0) + 2.0
        return NavigationLayout(
            extent=jnp.concatenate([low, high]),
            goal=params.goal,
            goal_radius=jnp.float32(GOAL_DRAW_RADIUS),
            hazards=params.hazards,
            traps=jnp.zeros((0, 3), jnp.float32),
            walls=jnp.zeros((0, 4), jnp.float32),
        )

    def position(self, state: PointHazardsState) -> jax.Array:
        """The point's (x, y)."""
        return state.position

    def _observation(self, state: PointHazardsState, params: PointHazardsParams) -> jax.Array:
        return jnp.concatenate(
            [
                state.position,
                params.goal - state.position,
                _edge_distances(state.position, params.hazards),
                state.violated.astype(jnp.float32)[None],
                (state.time / params.max_steps_in_episode).astype(jnp.float32)[None],
            ]
        ).astype(jnp.float32)


def _edge_distances(position: jax.Array, hazards: jax.Array) -> jax.Array:
    """[H] signed distances ‖s − c_i‖ − r_i from ``position`` [2] to the edges of ``hazards``
    [H, 3] (negative inside)."""
    return jnp.linalg.norm(position - hazards[:, :2], axis=-1) - hazards[:, 2]
