"""Running mean and variance of a feature stream, for observation (or reward) normalisation.

Batches are merged with the parallel algorithm of Chan, Golub, LeVeque, "Updating Formulae and a
Pairwise Algorithm for Computing Sample Variances" (1979), so the state after any sequence of
updates holds the mean and the population variance (``ddof=0``) of all samples seen so far.
"""

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp


class RunningMeanStd(NamedTuple):
    """Moments of every sample seen so far.

    Attributes:
      mean: ``[*shape]`` running mean.
      var: ``[*shape]`` running population variance (``1`` before the first update).
      count: scalar float32 number of samples merged so far.
    """

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def init(shape: tuple[int, ...]) -> RunningMeanStd:
    """Empty statistics for features of shape ``shape`` (mean 0, variance 1, count 0).

    With ``count = 0`` the first :func:`update` replaces the moments by the batch's exactly, and
    :func:`normalize` before any update only clips.
    """
    return RunningMeanStd(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        count=jnp.zeros((), jnp.float32),
    )


def update(state: RunningMeanStd, batch: jax.Array) -> RunningMeanStd:
    r"""Merge a batch into the running moments (Chan et al. 1979, pairwise update).

    With ``n_a, μ_a, σ²_a`` the running count, mean and variance and ``n_b, μ_b, σ²_b`` those
    of the batch, ``n = n_a + n_b`` and ``Δ = μ_b − μ_a``::

        μ  = μ_a + Δ n_b / n
        σ² = (n_a σ²_a + n_b σ²_b + Δ² n_a n_b / n) / n

    Args:
      state: the running statistics, features of shape ``[*shape]``.
      batch: ``[B, *shape]`` samples; any number of leading batch axes (e.g. ``[T, N, *shape]``)
        is reduced.

    Returns:
      The statistics of all samples seen so far, including ``batch``.
    """
    num_batch_axes = batch.ndim - state.mean.ndim
    if num_batch_axes < 1 or batch.shape[num_batch_axes:] != state.mean.shape:
        raise ValueError(
            f"batch of shape {batch.shape} does not stack features of shape {state.mean.shape}"
        )
    batch_axes = tuple(range(num_batch_axes))
    batch_count = jnp.float32(math.prod(batch.shape[:num_batch_axes]))
    batch_mean = jnp.mean(batch, axis=batch_axes)
    batch_var = jnp.var(batch, axis=batch_axes)

    count = state.count + batch_count
    delta = batch_mean - state.mean
    mean = state.mean + delta * batch_count / count
    sum_of_squares = (
        state.var * state.count
        + batch_var * batch_count
        + jnp.square(delta) * state.count * batch_count / count
    )
    return RunningMeanStd(mean=mean, var=sum_of_squares / count, count=count)


def normalize(
    state: RunningMeanStd, x: jax.Array, clip: float = 10.0, epsilon: float = 1e-8
) -> jax.Array:
    """Standardise ``x`` with the running moments and clip: ``clip((x − μ) / √(σ² + ε), ±clip)``.

    Args:
      state: the running statistics, features of shape ``[*shape]``.
      x: ``[..., *shape]`` features.
      clip: bound on the absolute value of the result.
      epsilon: added to the variance for features that are (nearly) constant.

    Returns:
      ``[..., *shape]`` normalised features.
    """
    chex.assert_shape(x, (..., *state.mean.shape))
    return jnp.clip((x - state.mean) / jnp.sqrt(state.var + epsilon), -clip, clip)
