"""The ``cppo`` algorithm (CPPO-EM) on the on-policy frame: config, determinism, modes, logs.

Its golden runs (``tests/test_golden_runs.py``) show two vmapped seeds finite, different and
reproducible bit for bit, and ``tests/test_training.py`` that it is traced once; the learning
check at the paper's budget is in ``tests/test_learning.py`` (slow).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from jaxsafe.algorithms import ALGORITHMS, cppo
from jaxsafe.config import ConfigError, validate
from jaxsafe.train import make_train


def test_registered_under_its_own_name():
    assert ALGORITHMS["cppo"] is cppo
    assert ALGORITHMS["cvar_ppo"] is not cppo


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lower_bound", 0.2, "must lie in \\(-1, 0\\)"),
        ("lower_bound", -1.0, "must lie in \\(-1, 0\\)"),
        ("radius_mode", "2n", "valid: \\['n_delta', '2n_delta'\\]"),
        ("limit_scale", "undiscounted", "valid: \\['episode', 'discounted'\\]"),
        ("budget_coefficient", "M", "valid: \\['unmasked', 'masked'\\]"),
        ("switch_cost_fraction", 1.5, "must lie in \\(0, 1\\]"),
        ("recovery_radii", 0, "must be at least 1"),
        ("kl_target", 0.0, "must be positive"),
        ("clip_coefficient", 1.0, "must lie in \\(0, 1\\)"),
    ],
)
def test_validate_names_the_bad_field(field, value, message):
    config = tiny_config("cppo")
    validate(config)
    config.algo[field] = value
    with pytest.raises(ConfigError, match=f"config.algo.{field} = .*{message}"):
        validate(config)


def _point_circle(updates=3, **algo):
    config = tiny_config("cppo", "PointCircle-v1", updates=updates)
    config.env.kwargs.episode_length = 16  # every update finishes one episode per environment
    for field, value in algo.items():
        config.algo[field] = value
    return config


@functools.cache
def _program(**algo):
    """Two vmapped seeds of 3 updates, compiled once; the cost limit d is a traced argument."""
    train = make_train(_point_circle(**algo))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    program = jax.jit(jax.vmap(lambda key, d: train(key, cost_limit=d), in_axes=(0, None)))
    return lambda d: jax.device_get(program(keys, jnp.float32(d)))


@functools.cache
def _run(cost_limit=25.0, **algo):
    run = _program(**algo)
    return run(cost_limit), run(cost_limit)


def test_two_runs_with_the_same_key_are_bit_identical():
    (state, metrics), (state_again, metrics_again) = _run()
    jax.tree.map(np.testing.assert_array_equal, metrics, metrics_again)
    jax.tree.map(np.testing.assert_array_equal, state, state_again)


def test_logs_every_diagnostic():
    (_, metrics), _ = _run()
    for key in (
        "e_step/iterations",
        "e_step/clipped",
        "e_step/mode",
        "e_step/case",
        "e_step/target_variance",
        "m_step/steps",
        "m_step/ratio_variance",
        "policy/kl",
        "policy/ratio_min",
        "policy/ratio_max",
        "constraint/episode_cost",
        "constraint/d_prime",
        "loss/value",
        "loss/cost_value",
    ):
        assert key in metrics, key
        assert metrics[key].shape == (2, 3) and np.isfinite(metrics[key]).all(), key
    # The E-step's targets have Var(v) = δ′ = 0.02 / (2 ln 2 − 1) (radius_mode "n_delta").
    np.testing.assert_allclose(metrics["e_step/target_variance"], 0.051774, rtol=1e-3)
    # Normal mode with a reachable budget: the targets spend at most d′ per sample.
    normal = (metrics["e_step/mode"] == 0) & (metrics["e_step/kappa"] >= -1)
    assert (
        metrics["e_step/target_cost"][normal] <= metrics["constraint/d_prime"][normal] + 1e-5
    ).all()
    assert (metrics["policy/ratio_min"] <= 1.0).all() and (metrics["policy/ratio_max"] >= 1.0).all()


def test_modes_follow_the_limit_and_the_switch():
    (_, strict), _ = _run(cost_limit=0.0)  # every batch with cost violates d = 0
    (_, loose), _ = _run(cost_limit=1000.0)
    (_, ablation), _ = _run(cost_limit=0.0, recovery=False)
    violated = strict["constraint/episode_cost"] > 0.0
    assert violated.any()
    np.testing.assert_array_equal(strict["e_step/mode"] == 1.0, violated)
    assert (strict["e_step/case"][violated] >= 1).all()
    assert (loose["e_step/mode"] == 0).all() and (loose["e_step/case"] == 0).all()
    assert (ablation["e_step/mode"] == 0).all()


def test_recovery_holds_until_the_switch_cost():
    """Recovery starts above d and holds until Ĵ_C < d_sw = 0.9 d (hysteresis, §B.5)."""
    (_, loose), _ = _run(cost_limit=1000.0)
    cost_limit = float(np.median(loose["constraint/episode_cost"]))  # mixed modes
    (_, metrics), _ = _run(cost_limit=cost_limit)
    cost, mode = metrics["constraint/episode_cost"], metrics["e_step/mode"]
    for seed in range(2):
        recovering = False
        for t in range(3):
            if recovering:
                recovering = cost[seed, t] >= 0.9 * cost_limit
            else:
                recovering = cost[seed, t] > cost_limit
            assert mode[seed, t] == float(recovering)
