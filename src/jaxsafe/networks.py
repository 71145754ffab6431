"""Actor and critic networks (flax linen): an orthogonally initialised MLP and the policy heads.

Initialisation follows the PPO implementation details of OpenAI Baselines, as catalogued by
Huang et al., "The 37 Implementation Details of Proximal Policy Optimization" (ICLR Blog Track
2022), detail 2: hidden layers orthogonal with gain √2, policy output layer gain 0.01 (a
near-uniform initial policy, also recommended by Andrychowicz et al., "What Matters In On-Policy
Reinforcement Learning?", ICLR 2021), value output layer gain 1, biases zero. The Gaussian policy
has a state-independent learned log standard deviation, as in CPO (Achiam et al. 2017, §10.3.2);
ALGORITHMS.md §0.3.
"""

import math
from collections.abc import Callable, Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
from gymnax.environments import spaces

HIDDEN_SCALE = math.sqrt(2.0)
POLICY_OUTPUT_SCALE = 0.01
VALUE_OUTPUT_SCALE = 1.0


class MLP(nn.Module):
    """Multilayer perceptron ``[..., D] -> [..., output_size]``, orthogonally initialised.

    Attributes:
      hidden_sizes: widths of the hidden layers (each orthogonal with gain √2, then
        ``activation``).
      output_size: width of the linear output layer.
      activation: hidden nonlinearity.
      output_scale: orthogonal gain of the output layer.
    """

    hidden_sizes: Sequence[int]
    output_size: int
    activation: Callable[[jax.Array], jax.Array] = nn.tanh
    output_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size, kernel_init=nn.initializers.orthogonal(HIDDEN_SCALE))(x)
            x = self.activation(x)
        return nn.Dense(
            self.output_size, kernel_init=nn.initializers.orthogonal(self.output_scale)
        )(x)


class GaussianPolicy(nn.Module):
    r"""Diagonal Gaussian policy ``π(a|s) = N(μ_θ(s), diag(exp(2 log σ)))``.

    The mean comes from an :class:`MLP`; ``log σ`` is a free parameter vector ``[action_size]``
    (named ``log_std``), independent of the state. Samples are unbounded: clipping to the action
    box is the environment's job.

    Use the distribution inside the jitted function that needs it (sample, ``log_prob``, KL) and
    return arrays: a ``distrax.MultivariateNormalDiag`` returned *from* ``jit`` leaks tracers on
    ``sample``/``log_prob`` (google-deepmind/distrax#230).

    Attributes:
      action_size: dimension of the action vector.
      hidden_sizes: hidden widths of the mean network.
      initial_log_std: initial value of every entry of ``log σ``.
      activation: hidden nonlinearity.
    """

    action_size: int
    hidden_sizes: Sequence[int]
    initial_log_std: float = -0.5
    activation: Callable[[jax.Array], jax.Array] = nn.tanh

    @nn.compact
    def __call__(self, observation: jax.Array) -> distrax.MultivariateNormalDiag:
        """``[..., D]`` observations to a distribution with batch shape ``[...]``."""
        mean = MLP(self.hidden_sizes, self.action_size, self.activation, POLICY_OUTPUT_SCALE)(
            observation
        )
        log_std = self.param(
            "log_std", nn.initializers.constant(self.initial_log_std), (self.action_size,)
        )
        scale = jnp.broadcast_to(jnp.exp(log_std), mean.shape)
        return distrax.MultivariateNormalDiag(loc=mean, scale_diag=scale)


class CategoricalPolicy(nn.Module):
    """Categorical policy ``π(a|s) = softmax(logits_θ(s))_a`` over ``num_actions`` actions.

    Attributes:
      num_actions: number of discrete actions.
      hidden_sizes: hidden widths of the logits network.
      activation: hidden nonlinearity.
    """

    num_actions: int
    hidden_sizes: Sequence[int]
    activation: Callable[[jax.Array], jax.Array] = nn.tanh

    @nn.compact
    def __call__(self, observation: jax.Array) -> distrax.Categorical:
        """``[..., D]`` observations to a distribution with batch shape ``[...]``."""
        logits = MLP(self.hidden_sizes, self.num_actions, self.activation, POLICY_OUTPUT_SCALE)(
            observation
        )
        return distrax.Categorical(logits=logits)


class ValueNetwork(nn.Module):
    """State-value critic ``V_φ(s)``: ``[..., D]`` observations to ``[...]`` scalar values.

    Attributes:
      hidden_sizes: hidden widths.
      activation: hidden nonlinearity.
    """

    hidden_sizes: Sequence[int]
    activation: Callable[[jax.Array], jax.Array] = nn.tanh

    @nn.compact
    def __call__(self, observation: jax.Array) -> jax.Array:
        value = MLP(self.hidden_sizes, 1, self.activation, VALUE_OUTPUT_SCALE)(observation)
        return jnp.squeeze(value, axis=-1)


def make_policy(
    action_space: spaces.Box | spaces.Discrete,
    hidden_sizes: Sequence[int],
    initial_log_std: float = -0.5,
) -> GaussianPolicy | CategoricalPolicy:
    """The policy matching a gymnax action space.

    Args:
      action_space: a ``spaces.Box`` of shape ``[A]`` (Gaussian policy over ``A`` dimensions) or a
        ``spaces.Discrete`` (categorical policy over its ``n`` actions).
      hidden_sizes: hidden widths of the policy network.
      initial_log_std: initial ``log σ`` of a Gaussian policy; unused for a discrete space.

    Returns:
      An unbound :class:`GaussianPolicy` or :class:`CategoricalPolicy`.

    Raises:
      ValueError: for a ``Box`` that is not one-dimensional.
      TypeError: for any other kind of space.
    """
    if isinstance(action_space, spaces.Box):
        if len(action_space.shape) != 1:
            raise ValueError(f"need a 1-D action Box, got shape {action_space.shape}")
        return GaussianPolicy(
            action_size=action_space.shape[0],
            hidden_sizes=tuple(hidden_sizes),
            initial_log_std=initial_log_std,
        )
    if isinstance(action_space, spaces.Discrete):
        return CategoricalPolicy(num_actions=action_space.n, hidden_sizes=tuple(hidden_sizes))
    raise TypeError(f"unsupported action space {type(action_space).__name__}")


PolicyDistribution = distrax.MultivariateNormalDiag | distrax.Categorical


def distribution_parameters(distribution: PolicyDistribution) -> tuple[jax.Array, ...]:
    """The free parameters u of a policy distribution: ``(loc, scale_diag)`` or ``(logits,)``.

    :func:`distribution_from_parameters` rebuilds the distribution from them; the pair lets a
    solver differentiate through u alone (the Gauss–Newton Fisher product of
    :mod:`jaxsafe.solvers.conjugate_gradient`).
    """
    if isinstance(distribution, distrax.Categorical):
        return (distribution.logits,)
    return (distribution.loc, distribution.scale_diag)


def distribution_from_parameters(
    parameters: tuple[jax.Array, ...], like: PolicyDistribution
) -> PolicyDistribution:
    """The distribution of the same kind as ``like`` with parameters ``parameters``."""
    return type(like)(*parameters)
