"""The invalid-action contract (``jaxsafe_envs.invalid_action``), checked for every registered
environment: an action the environment cannot execute (a non-finite box component, a discrete
action out of range) is replaced by the zero action, flagged, counted as unsafe and ends the
episode, and the next episode is a normal one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces
from numpy.testing import assert_array_equal

import jaxsafe_envs

LATER_STEPS = 3


def _make(name: str):
    """The environment, made quick to compile: exact resets where it has a reset pool (no pool
    to build) and brax's ``spring`` backend for the brax tasks (about half the compile time of
    ``generalized``; the contract does not depend on the physics)."""
    options = jaxsafe_envs.keywords(name)
    kwargs = {"reset_pool_size": 0} if "reset_pool_size" in options else {}
    if "backend" in options:
        kwargs["backend"] = "spring"
    return jaxsafe_envs.make(name, **kwargs)


def _actions(space: spaces.Space, valid: jax.Array) -> jax.Array:
    """[4, ...] actions: ``valid``, then three invalid ones for ``space``."""
    if isinstance(space, spaces.Discrete):
        return jnp.array([valid, space.n, -1, 100], jnp.int32)
    nan_everywhere = jnp.full(space.shape, jnp.nan)
    one_inf = valid.at[0].set(jnp.inf)
    one_minus_inf = valid.at[-1].set(-jnp.inf)
    return jnp.stack([valid, nan_everywhere, one_inf, one_minus_inf]).astype(jnp.float32)


def _run(env, params, actions: jax.Array, valid: jax.Array):
    """Four copies of a fresh episode stepped with ``actions`` [4, ...], then ``LATER_STEPS``
    times with ``valid``; every step's outputs, stacked [1 + LATER_STEPS, 4, ...]. (One scan
    with one step in its body: the brax tasks compile their step once.)"""
    _, state = env.reset(jax.random.key(0), params)
    state = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (len(actions), *leaf.shape)), state)
    later = jnp.broadcast_to(valid, (LATER_STEPS, *actions.shape))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def one(state, inputs):
        key, action = inputs
        obs, state, reward, terminated, truncated, info = step(
            jax.random.split(key, len(actions)), state, action, params
        )
        return state, (obs, state, reward, terminated, truncated, info)

    keys = jax.random.split(jax.random.key(1), 1 + LATER_STEPS)
    return jax.lax.scan(one, state, (keys, jnp.concatenate([actions[None], later])))[1]


def _finite_floats(tree) -> bool:
    return all(
        np.isfinite(leaf).all()
        for leaf in jax.tree.leaves(jax.device_get(tree))
        if np.issubdtype(np.asarray(leaf).dtype, np.floating)
    )


@pytest.mark.parametrize("name", jaxsafe_envs.registered())
def test_invalid_action_is_replaced_flagged_unsafe_and_ends_the_episode(name):
    env, params = _make(name)
    space = env.action_space(params)
    valid = jnp.asarray(space.sample(jax.random.key(5)))
    actions = _actions(space, valid)
    run = jax.jit(_run, static_argnums=0)
    obs, state, reward, terminated, truncated, info = jax.device_get(
        run(env, params, actions, valid)
    )

    # Every output of every step finite, every cost non-negative.
    assert _finite_floats((obs, state, reward, info))
    assert (info["cost"] >= 0.0).all()
    # The invalid actions are flagged, unsafe and end their episodes: the state returned is
    # the auto-reset's fresh one.
    assert_array_equal(info["invalid_action"][0], [False, True, True, True])
    assert terminated[0, 1:].all() and not truncated[0].any()
    invalid_cost = float(env.invalid_action_cost(params))
    assert invalid_cost > 0.0 and (info["cost"][0, 1:] >= invalid_cost).all()
    assert_array_equal(state.time[0], [1, 0, 0, 0])
    # Later valid actions behave normally: unflagged, and each episode counts its steps.
    assert not info["invalid_action"][1:].any()
    assert_array_equal(state.time[1:, 1:], np.arange(1, LATER_STEPS + 1)[:, None].repeat(3, 1))


def test_icy_lake_replaces_out_of_range_actions_by_action_0():
    """From the start tile, action 0 (left) hits the wall and stays on snow (cost 2); the
    invalid action costs max(snow, ice + slip) = 10.5 and ends the episode."""
    env, params = jaxsafe_envs.make("IcyLake-v1")
    _, state = env.reset(jax.random.key(0), params)
    step = jax.jit(jax.vmap(env.step, in_axes=(None, None, 0, None)))
    _, _, reward, terminated, _, info = step(
        jax.random.key(1), state, jnp.array([0, 4, -1, 7], jnp.int32), params
    )
    assert_array_equal(info["final_observation"].argmax(axis=1), [0, 0, 0, 0])
    assert_array_equal(info["invalid_action"], [False, True, True, True])
    assert_array_equal(info["cost"], [2.0, 10.5, 10.5, 10.5])
    assert_array_equal(terminated, [False, True, True, True])
    assert_array_equal(reward, 0.0)
    # A NaN passed as a float action is out of range too.
    _, _, _, terminated, _, info = jax.jit(env.step)(
        jax.random.key(1), state, jnp.float32(jnp.nan), params
    )
    assert bool(info["invalid_action"]) and bool(terminated)
