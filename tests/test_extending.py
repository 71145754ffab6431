"""A new algorithm in one module, registered from a test: config, workflow, benchmarks unchanged.

``vanilla_pg`` is a plain policy-gradient step (Adam on −(1/M) Σ ρ_t Â_t, Â standardised) on the
on-policy frame. Registered under a new name, it is configured, validated, trained by the host
loop, evaluated, loaded as a policy and benchmarked by the existing code, unchanged.
"""

import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxsafe import algorithms
from jaxsafe.advantages import standardize
from jaxsafe.algorithms import on_policy
from jaxsafe.config import ConfigError, make_config, validate
from jaxsafe.evaluation import evaluate_run
from jaxsafe.experiment import run_experiment
from jaxsafe.train import make_algorithm
from jaxsafe.workdir import load_policy

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _default_config() -> ml_collections.ConfigDict:
    config = on_policy.default_config()
    config.policy_learning_rate = 1e-2
    return config


def _validate(algo, check) -> None:
    on_policy.validate(algo, check)
    check(algo.policy_learning_rate > 0, "algo.policy_learning_rate", algo.policy_learning_rate,
          "must be positive")  # fmt: skip


def _policy_update(algo, network) -> on_policy.PolicyUpdate:
    optimizer = optax.adam(algo.policy_learning_rate)

    def step(learner, params, prepared: on_policy.Prepared, hyperparams):
        trajectory = prepared.batch.trajectory
        advantage = standardize(prepared.batch.advantages[on_policy.REWARD])

        def loss(params):
            distribution = network.apply(params, prepared.observation)
            ratio = jnp.exp(distribution.log_prob(trajectory.action) - trajectory.log_prob)
            return -jnp.mean(ratio * advantage)

        value, grads = jax.value_and_grad(loss)(params)
        updates, learner = optimizer.update(grads, learner, params)
        return learner, optax.apply_updates(params, updates), {"loss/policy": value}

    # The learner state is the optimiser's, for the initial policy parameters.
    return on_policy.PolicyUpdate(lambda params, hyperparams: optimizer.init(params), step, {})


def _make_frame(config, env, env_params):
    build = lambda network: _policy_update(config.algo, network)  # noqa: E731
    frame = on_policy.make_frame(config, env, env_params, build)
    return on_policy.algorithm(frame), frame


VANILLA_PG = types.SimpleNamespace(
    default_config=_default_config,
    validate=_validate,
    steps_per_update=on_policy.steps_per_update,
    make_frame=_make_frame,
    make=lambda config, env, env_params: _make_frame(config, env, env_params)[0],
)


@pytest.fixture(scope="module")
def vanilla_pg_run(tmp_path_factory):
    algorithms.register("vanilla_pg", VANILLA_PG)
    config = make_config("vanilla_pg", "IcyLake-v1")
    config.algo.num_envs, config.algo.num_steps = 8, 16
    config.algo.num_epochs, config.algo.num_minibatches = 1, 2
    config.algo.hidden_sizes = (16,)
    config.total_timesteps = 3 * 8 * 16
    config.num_seeds = 2
    config.log.progress = False
    workdir = tmp_path_factory.mktemp("extending") / "run"
    run_experiment(config, workdir, report=lambda line: None)
    yield config, workdir
    del algorithms.ALGORITHMS["vanilla_pg"]


def test_config_comes_from_the_module_and_its_checks_run(vanilla_pg_run):
    config, _ = vanilla_pg_run
    assert _default_config().policy_learning_rate == 1e-2
    # IcyLake's preset reaches the new algorithm's fields too.
    assert config.algo.policy_learning_rate == config.algo.critic_learning_rate == 1e-3
    bad = ml_collections.ConfigDict(config.to_dict())
    bad.algo.policy_learning_rate = -1.0
    with pytest.raises(ConfigError, match="config.algo.policy_learning_rate = -1.0"):
        validate(bad)
    bad.algo.policy_learning_rate = 1e-2
    bad.algo.clip_epsilon = 0.2  # a PPO field: not one of this algorithm's
    with pytest.raises(ConfigError, match="config.algo.clip_epsilon = 0.2: not a field"):
        validate(bad)


def test_trained_evaluated_and_loaded_by_the_existing_workflow(vanilla_pg_run):
    _, workdir = vanilla_pg_run
    evaluation = evaluate_run(workdir, num_episodes=4, deterministic=True)
    assert evaluation.report["update"] == 3
    assert np.isfinite(evaluation.report["metrics"]["return"]["mean"])
    loaded = load_policy(workdir, seed=1)
    actions = loaded.act(np.eye(16, dtype=np.float32)[:5])
    assert actions.shape == (5,) and int(actions.max()) < 4


def test_benchmarked_by_the_existing_harness(vanilla_pg_run):
    config, _ = vanilla_pg_run
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import harness
        import update_split
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert harness.has_phases("vanilla_pg")
    arguments = types.SimpleNamespace(warmup_updates=1, seed=0)
    calls = update_split.frame_calls(config, 1, arguments)
    assert set(calls) == {"update", *update_split.PHASES}
    algorithm = make_algorithm(config)
    states = harness.initial_states(algorithm, 1, 0)
    carries = harness.rollout_carries(config, algorithm, states, 0)
    _, checksum = harness.rollout_program(config, algorithm, 1)(states, carries)
    assert np.isfinite(float(checksum[0]))
