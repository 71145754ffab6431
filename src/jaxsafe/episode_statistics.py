"""Per-episode statistics of vectorised rollouts: running sums and the finished episodes' totals.

For each of ``N`` environments, :func:`step` accumulates over the current episode::

    return            R = Σ_t r_t               discounted return  Σ_t γ^t r_t
    cost              C = Σ_t c_t               discounted cost    Σ_t γ_c^t c_t
    length            Σ_t 1                     counters           Σ_t x_t  (per named info key)

and, at a step where the episode ends, emits its totals in an :class:`EpisodeRecord` and restarts
the sums at zero. :func:`summarize` averages the records over finished episodes. ``J_C`` for the
constraint (ALGORITHMS.md A.1) is ``"episode/cost"`` (undiscounted) or
``"episode/discounted_cost"``.
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp


class EpisodeAccumulator(NamedTuple):
    """Running sums of the current episode of each environment, all ``[N]``.

    Attributes:
      episode_return: ``Σ r_t`` so far.
      discounted_return: ``Σ γ^t r_t`` so far.
      episode_cost: ``Σ c_t`` so far.
      discounted_cost: ``Σ γ_c^t c_t`` so far.
      length: int32 number of steps so far.
      discount_factor: ``γ^t`` for the next step ``t``.
      cost_discount_factor: ``γ_c^t`` for the next step ``t``.
      counters: name to ``Σ x_t`` so far of an env-provided per-step quantity (float32).
    """

    episode_return: jax.Array
    discounted_return: jax.Array
    episode_cost: jax.Array
    discounted_cost: jax.Array
    length: jax.Array
    discount_factor: jax.Array
    cost_discount_factor: jax.Array
    counters: dict[str, jax.Array]


class EpisodeRecord(NamedTuple):
    """Totals of the episodes that ended at one step, ``[N]`` (or ``[T, N]`` once scanned).

    Entries are valid only where ``done``; elsewhere they hold the ongoing episode's partial sums.

    Attributes:
      episode_return, discounted_return, episode_cost, discounted_cost, length, counters: the
        finished episode's totals, as in :class:`EpisodeAccumulator`.
      done: bool, an episode ended at this step.
    """

    episode_return: jax.Array
    discounted_return: jax.Array
    episode_cost: jax.Array
    discounted_cost: jax.Array
    length: jax.Array
    counters: dict[str, jax.Array]
    done: jax.Array


_SUMMARY_NAMES = ("return", "discounted_return", "cost", "discounted_cost", "length", "count")


def init(num_envs: int, counter_names: Sequence[str] = ()) -> EpisodeAccumulator:
    """Empty sums for ``num_envs`` environments, with one counter per name in ``counter_names``.

    Raises:
      ValueError: if a counter name would clash with a built-in key of :func:`summarize`.
    """
    clashes = set(counter_names) & set(_SUMMARY_NAMES)
    if clashes:
        raise ValueError(f"counter names {sorted(clashes)} clash with built-in statistics")
    zeros = jnp.zeros((num_envs,), jnp.float32)
    ones = jnp.ones((num_envs,), jnp.float32)
    return EpisodeAccumulator(
        episode_return=zeros,
        discounted_return=zeros,
        episode_cost=zeros,
        discounted_cost=zeros,
        length=jnp.zeros((num_envs,), jnp.int32),
        discount_factor=ones,
        cost_discount_factor=ones,
        counters={name: zeros for name in counter_names},
    )


def step(
    acc: EpisodeAccumulator,
    reward: jax.Array,
    cost: jax.Array,
    counters: Mapping[str, jax.Array],
    done: jax.Array,
    discount: float | jax.Array,
    cost_discount: float | jax.Array,
) -> tuple[EpisodeAccumulator, EpisodeRecord]:
    """Add one transition per environment; emit and reset the episodes that end with it.

    Args:
      acc: running sums, ``[N]``.
      reward: ``[N]`` rewards ``r_t``.
      cost: ``[N]`` costs ``c_t``.
      counters: mapping with an ``[N]`` entry (bool or numeric) for every counter name of
        ``acc``; other keys are ignored, so a whole ``info`` dict may be passed.
      done: ``[N]`` bool, the episode ended with this transition (terminated or truncated).
      discount: scalar ``γ``; may be traced.
      cost_discount: scalar ``γ_c``; may be traced.

    Returns:
      ``(acc, record)``: the sums after this step (zero where ``done``) and the totals including
      this step (valid where ``done``).
    """
    chex.assert_shape([reward, cost, done], acc.length.shape)
    chex.assert_type(done, bool)
    record = EpisodeRecord(
        episode_return=acc.episode_return + reward,
        discounted_return=acc.discounted_return + acc.discount_factor * reward,
        episode_cost=acc.episode_cost + cost,
        discounted_cost=acc.discounted_cost + acc.cost_discount_factor * cost,
        length=acc.length + 1,
        counters={
            name: total + counters[name].astype(jnp.float32) for name, total in acc.counters.items()
        },
        done=done,
    )

    def restart(total: jax.Array, start: float) -> jax.Array:
        return jnp.where(done, jnp.asarray(start, total.dtype), total)

    acc = EpisodeAccumulator(
        episode_return=restart(record.episode_return, 0.0),
        discounted_return=restart(record.discounted_return, 0.0),
        episode_cost=restart(record.episode_cost, 0.0),
        discounted_cost=restart(record.discounted_cost, 0.0),
        length=restart(record.length, 0),
        discount_factor=restart(acc.discount_factor * discount, 1.0),
        cost_discount_factor=restart(acc.cost_discount_factor * cost_discount, 1.0),
        counters={name: restart(total, 0.0) for name, total in record.counters.items()},
    )
    return acc, record


def summarize(records: EpisodeRecord, cost_threshold: float | None = None) -> dict[str, jax.Array]:
    """Means over the finished episodes of a stack of records (any shape, e.g. ``[T, N]``).

    Returns a dict of float32 scalars with keys ``"episode/return"``,
    ``"episode/discounted_return"``, ``"episode/cost"``, ``"episode/discounted_cost"``,
    ``"episode/length"``, ``"episode/<counter>"`` for each counter, and ``"episode/count"``, the
    number of finished episodes. With a ``cost_threshold`` d, also ``"episode/cost_exceedance"``,
    the fraction of episodes whose discounted cost reached d (the empirical P(C ≥ d) of a VaR
    constraint, logged for any algorithm so that risk can be compared across them). When no
    episode finished, the count is 0 and every mean is 0 (not NaN); consumers should weight or
    skip by ``"episode/count"``.
    """
    done = records.done
    count = jnp.sum(done, dtype=jnp.float32)

    def mean(total: jax.Array) -> jax.Array:
        chex.assert_equal_shape([total, done])
        return jnp.sum(jnp.where(done, total, 0), dtype=jnp.float32) / jnp.maximum(count, 1.0)

    summary = {
        "episode/return": mean(records.episode_return),
        "episode/discounted_return": mean(records.discounted_return),
        "episode/cost": mean(records.episode_cost),
        "episode/discounted_cost": mean(records.discounted_cost),
        "episode/length": mean(records.length),
    }
    summary |= {f"episode/{name}": mean(total) for name, total in records.counters.items()}
    if cost_threshold is not None:
        summary["episode/cost_exceedance"] = mean(records.discounted_cost >= cost_threshold)
    summary["episode/count"] = count
    return summary
