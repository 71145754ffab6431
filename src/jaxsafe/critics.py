"""A stack of value critics fitted side by side, each with its own optimiser and target scale.

VaR-CPO learns three critics on the augmented state: reward V, cost V_C and augmented cost V_ĉ
(VARCPO.md §3, "Critics"). Their targets differ by many orders of magnitude (V_ĉ's squared-cost
returns reach 10³–10⁷ while V's are of order one), so one optimiser with one global-norm clip,
as in the reference code, starves the small critics. **[FIX]** Here every critic has its own
Adam state and gradient clip, and learns *normalised* targets with PopArt (van Hasselt et al.,
"Learning values across many orders of magnitude", NeurIPS 2016):

    V(s) = μ + σ · f_φ(s),    f_φ fitted to (G − μ) / σ,

with μ, σ exponential moving averages of the targets' first two moments, updated once per
batch. When (μ, σ) move to (μ', σ'), the output layer (w, b) of f_φ is rescaled to

    w' = w σ / σ',    b' = (σ b + μ − μ') / σ'

so that V is unchanged by the new statistics ("preserving outputs precisely", eq. (6)–(7)).

The K critics share one architecture, so their parameters are stacked on a leading ``[K]`` axis
and fitted by one vmapped minibatch loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsafe.networks import ValueNetwork
from jaxsafe.permutation import permutation

MIN_SCALE = 1e-3
"""Floor on σ, so that a constant target does not blow up the normalised ones."""


class TargetStatistics(NamedTuple):
    """PopArt's moving moments of one critic's targets (μ = mean, σ² = second − mean²)."""

    mean: jax.Array
    second_moment: jax.Array
    initialised: jax.Array  # bool: seen at least one batch


class CriticState(NamedTuple):
    """K critics, every leaf with a leading ``[K]`` axis."""

    params: Any
    opt_state: optax.OptState
    statistics: TargetStatistics


def scale(statistics: TargetStatistics) -> jax.Array:
    """σ = √(second moment − mean²), floored at :data:`MIN_SCALE`."""
    variance = statistics.second_moment - statistics.mean**2
    return jnp.sqrt(jnp.maximum(variance, MIN_SCALE**2))


def update_statistics(
    statistics: TargetStatistics, targets: jax.Array, rate: float | jax.Array
) -> TargetStatistics:
    """Moves the moments towards the batch's by ``rate`` (the first batch sets them)."""
    batch_mean = targets.mean()
    batch_second = jnp.square(targets).mean()
    weight = jnp.where(statistics.initialised, rate, 1.0)
    return TargetStatistics(
        mean=(1.0 - weight) * statistics.mean + weight * batch_mean,
        second_moment=(1.0 - weight) * statistics.second_moment + weight * batch_second,
        initialised=jnp.bool_(True),
    )


def preserve_outputs(
    output_layer: dict[str, jax.Array], old: TargetStatistics, new: TargetStatistics
) -> dict[str, jax.Array]:
    """PopArt's rescaling of the output layer ``{"kernel", "bias"}`` so that V stays the same."""
    old_scale, new_scale = scale(old), scale(new)
    return {
        "kernel": output_layer["kernel"] * old_scale / new_scale,
        "bias": (old_scale * output_layer["bias"] + old.mean - new.mean) / new_scale,
    }


class Critics:
    """K value networks on the same inputs, fitted to K target streams.

    Args:
        hidden_sizes: hidden widths of every critic.
        learning_rate: Adam step size.
        max_grad_norm: each critic's own global-norm clip.
        normalize_targets: PopArt target normalisation; without it σ = 1, μ = 0 throughout.
        statistics_rate: the moving-average rate of the target moments per batch.
    """

    def __init__(
        self,
        hidden_sizes: tuple[int, ...],
        learning_rate: float,
        max_grad_norm: float,
        normalize_targets: bool = True,
        statistics_rate: float = 0.1,
    ):
        self.network = ValueNetwork(tuple(hidden_sizes))
        self.output_layer = f"Dense_{len(hidden_sizes)}"
        self.optimizer = optax.chain(
            optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5)
        )
        self.normalize_targets = normalize_targets
        self.statistics_rate = statistics_rate

    def init(self, key: jax.Array, num_critics: int, observation: jax.Array) -> CriticState:
        def one(key):
            params = self.network.init(key, observation)
            return CriticState(
                params,
                self.optimizer.init(params),
                TargetStatistics(jnp.float32(0.0), jnp.float32(1.0), jnp.bool_(False)),
            )

        return jax.vmap(one)(jax.random.split(key, num_critics))

    def values(self, state: CriticState, observation: jax.Array) -> jax.Array:
        """``[K, ...]`` values of every critic at ``observation [..., D]``, in target units."""

        def one(params, statistics):
            normalized = self.network.apply(params, observation)
            return statistics.mean + scale(statistics) * normalized

        return jax.vmap(one)(state.params, state.statistics)

    def fit(
        self,
        state: CriticState,
        observation: jax.Array,
        targets: jax.Array,
        key: jax.Array,
        num_epochs: int,
        num_minibatches: int,
    ) -> tuple[CriticState, jax.Array]:
        """Minibatch regression of every critic onto its targets.

        Args:
            state: the K critics.
            observation: ``[B, D]`` inputs, shared by all critics.
            targets: ``[K, B]`` targets (λ-returns), in target units.
            key: shuffles the minibatches (the same order for every critic).
            num_epochs, num_minibatches: passes over the batch and minibatches per pass.

        Returns:
            The fitted critics and their ``[K]`` losses ½·MSE in normalised units, averaged
            over the minibatch steps.
        """
        batch_size = observation.shape[0]
        minibatch_size = batch_size // num_minibatches

        def fit_one(state: CriticState, targets: jax.Array):
            if self.normalize_targets:
                statistics = update_statistics(state.statistics, targets, self.statistics_rate)
                layers = dict(state.params["params"]["MLP_0"])
                layers[self.output_layer] = preserve_outputs(
                    layers[self.output_layer], state.statistics, statistics
                )
                params = {"params": {**state.params["params"], "MLP_0": layers}}
            else:
                statistics, params = state.statistics, state.params
            normalized = (targets - statistics.mean) / scale(statistics)

            def loss(params, observation, target):
                return 0.5 * jnp.mean(jnp.square(self.network.apply(params, observation) - target))

            def minibatch_step(carry, minibatch):
                params, opt_state = carry
                value, grads = jax.value_and_grad(loss)(params, *minibatch)
                updates, opt_state = self.optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), value

            def epoch(carry, key):
                order = permutation(key, batch_size)[: num_minibatches * minibatch_size]
                minibatches = jax.tree.map(
                    lambda x: x[order].reshape(num_minibatches, minibatch_size, *x.shape[1:]),
                    (observation, normalized),
                )
                return jax.lax.scan(minibatch_step, carry, minibatches)

            (params, opt_state), losses = jax.lax.scan(
                epoch, (params, state.opt_state), jax.random.split(key, num_epochs)
            )
            return CriticState(params, opt_state, statistics), losses.mean()

        return jax.vmap(fit_one)(state, targets)
