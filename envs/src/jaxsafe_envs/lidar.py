"""Safety Gym's pseudo-lidar: per object group, a ring of bins around the robot.

As ``_obs_lidar_pseudo`` in Safety-Gymnasium's ``bases/base_task.py`` (``LidarConf``: 16 bins,
``max_dist`` 3, ``exp_gain`` 1, aliasing on). For each object at egocentric position
``z = R(−ψ)(q − p)`` with distance ``d = |z|`` and bearing ``θ = angle(z) mod 2π``::

    k = ⌊θ / β⌋,  β = 2π / n                       # the object's bin
    s = max(0, d_max − d) / d_max                  # "linear" falloff (Safety-Gymnasium's default,
                                                   #  used whenever max_dist is set, as it is: 3)
    s = exp(−g d)                                  # "exp" falloff (its max_dist=None branch)
    bin k ← max(bin k, s)
    bin k+1 ← max(·, α s),  bin k−1 ← max(·, (1 − α) s),  α = (θ − kβ) / β   # aliasing

A bin reads 0 when empty and the strongest signal of the objects in it otherwise. Objects are
points (their centres); for walls the tasks pass the nearest point of each wall box
(:func:`nearest_points_on_boxes`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FALLOFFS = ("linear", "exp")


def pseudo_lidar(
    position: jax.Array,
    heading: jax.Array,
    objects: jax.Array,
    num_bins: int,
    max_distance: jax.Array,
    exp_gain: jax.Array,
    falloff: str = "linear",
    alias: bool = True,
    mask: jax.Array | None = None,
) -> jax.Array:
    """The lidar [num_bins] of the points ``objects`` [N, 2] seen from ``position`` [2] facing
    ``heading``; ``mask`` [N] (optional) drops objects whose entry is false."""
    if falloff not in FALLOFFS:
        raise ValueError(f"lidar falloff must be one of {FALLOFFS}, got {falloff!r}")
    if objects.shape[0] == 0:
        return jnp.zeros(num_bins, jnp.float32)
    relative = objects - position
    cos, sin = jnp.cos(heading), jnp.sin(heading)
    ego_x = cos * relative[:, 0] + sin * relative[:, 1]
    ego_y = -sin * relative[:, 0] + cos * relative[:, 1]
    distance = jnp.hypot(ego_x, ego_y)
    bin_size = 2.0 * jnp.pi / num_bins
    angle = jnp.mod(jnp.arctan2(ego_y, ego_x), 2.0 * jnp.pi)
    index = jnp.floor(angle / bin_size).astype(jnp.int32)
    index = jnp.clip(index, 0, num_bins - 1)  # θ rounded up to 2π lands in the last bin
    if falloff == "linear":
        signal = jnp.maximum(0.0, max_distance - distance) / max_distance
    else:
        signal = jnp.exp(-exp_gain * distance)
    if mask is not None:
        signal = jnp.where(mask, signal, 0.0)
    bins = jnp.arange(num_bins)
    readings = jnp.where(bins == index[:, None], signal[:, None], 0.0)
    if alias:
        fraction = jnp.clip((angle - index * bin_size) / bin_size, 0.0, 1.0)
        up = jnp.where(bins == (index[:, None] + 1) % num_bins, (fraction * signal)[:, None], 0.0)
        down_signal = ((1.0 - fraction) * signal)[:, None]
        down = jnp.where(bins == (index[:, None] - 1) % num_bins, down_signal, 0.0)
        readings = jnp.maximum(readings, jnp.maximum(up, down))
    return jnp.max(readings, axis=0).astype(jnp.float32)


def nearest_points_on_boxes(position: jax.Array, boxes: jax.Array) -> jax.Array:
    """The point [K, 2] of each axis-aligned box ``(x_min, y_min, x_max, y_max)`` [K, 4]
    nearest to ``position`` [2] (``position`` itself when inside)."""
    return jnp.clip(position, boxes[:, :2], boxes[:, 2:])
