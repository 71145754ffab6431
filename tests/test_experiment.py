"""The host loop: work directory contents, resume, NaN stop, config validation, CLI, sharding."""

import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from golden_runs import golden_config

from conftest import tiny_config
from jaxsafe import experiment
from jaxsafe.config import ConfigError, validate
from jaxsafe.experiment import TrainingDiverged, run_experiment
from jaxsafe.train import make_algorithm, make_train

REPO = Path(__file__).resolve().parents[1]


def _rows(workdir):
    return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def _quiet(_line):
    pass


def test_workdir_holds_config_metrics_checkpoints_and_plots(tmp_workdir, monkeypatch):
    config = tiny_config("ppo_lag")  # 3 updates: chunks of 2 and 1
    config.log.tensorboard = True
    traced = []
    run_some_updates = experiment.run_some_updates
    monkeypatch.setattr(
        experiment,
        "run_some_updates",
        lambda *arguments: traced.append(1) or run_some_updates(*arguments),
    )
    run_experiment(config, tmp_workdir, report=_quiet)
    assert len(traced) == 1  # one chunk program, the shorter last chunk included
    workdir = Path(tmp_workdir)
    assert json.loads((workdir / "config.json").read_text())["algo"]["name"] == "ppo_lag"
    rows = _rows(workdir)
    assert [(row["update"], row["seed"]) for row in rows] == [
        (u, s) for u in (1, 2, 3) for s in (0, 1)
    ]
    for key in ("env_steps", "episode/return", "episode/cost", "constraint/multiplier"):
        assert key in rows[0]
    assert rows[-1]["env_steps"] == 3 * 8 * 16
    assert (workdir / "checkpoints" / "3").exists()
    assert (workdir / "plots" / "episode_return.png").stat().st_size > 0
    assert list((workdir / "tensorboard" / "seed_1").iterdir())


def test_resume_continues_bit_identically(tmp_path):
    straight = tiny_config("ppo", updates=5)
    final = run_experiment(straight, tmp_path / "straight", report=_quiet)

    interrupted = tiny_config("ppo", updates=3)
    run_experiment(interrupted, tmp_path / "resumed", report=_quiet)
    # A run killed after logging update 4 but before its checkpoint left a stale row behind.
    with (tmp_path / "resumed" / "metrics.jsonl").open("a") as file:
        file.write(json.dumps({"update": 4, "seed": 0, "stale": True}) + "\n")
    resumed = run_experiment(straight, tmp_path / "resumed", report=_quiet)

    jax.tree.map(np.testing.assert_array_equal, jax.device_get(final), jax.device_get(resumed))
    assert _rows(tmp_path / "straight") == _rows(tmp_path / "resumed")


def test_host_loop_equals_the_fused_train(tmp_workdir):
    """run_experiment's chunks of 2 + 1 updates end where one fused jit(vmap(train)) does.

    Equal up to float32 rounding (seen: 2e-9 absolute): XLA compiles the fused program and the
    chunk programs separately and may order sums differently. Where the same programs run, as
    in a resumed run or single-seed chunks (test_training), results are bit-identical.
    """
    config = golden_config("cvar_ppo/IcyLake-v1")  # its fused program is the golden run's
    config.log.updates_per_chunk = 2
    config.log.progress = False
    hosted = run_experiment(config, tmp_workdir, report=_quiet)
    keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
    fused, _ = jax.jit(jax.vmap(make_train(config)))(keys)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
        jax.device_get(hosted),
        jax.device_get(fused),
    )


def test_resume_refuses_a_different_run(tmp_workdir):
    run_experiment(tiny_config("ppo"), tmp_workdir, report=_quiet)
    changed = tiny_config("ppo")
    changed.algo.policy_learning_rate = 1.0
    with pytest.raises(
        ConfigError,
        match=r"config.algo.policy_learning_rate = 1.0 differs from the run in .*, which has 0.001",
    ):
        run_experiment(changed, tmp_workdir, report=_quiet)


def test_nan_stops_with_the_update_number_and_keeps_the_last_good_checkpoint(tmp_workdir):
    config = tiny_config("ppo", updates=6)
    config.checkpoint.every_chunks = 5  # nothing would be saved before the NaN otherwise
    algorithm = make_algorithm(config)

    def poisoned(state):
        state, metrics = algorithm.update(state)
        bad = jnp.where(state.update_step == 4, jnp.nan, 0.0)
        return state, {**metrics, "loss/value": metrics["loss/value"] + bad}

    with pytest.raises(TrainingDiverged, match=r"loss/value is not finite at update 4 \(seed 0\)"):
        run_experiment(
            config, tmp_workdir, dataclasses.replace(algorithm, update=poisoned), report=_quiet
        )
    assert sorted(int(p.name) for p in (Path(tmp_workdir) / "checkpoints").iterdir()) == [2]
    assert max(row["update"] for row in _rows(tmp_workdir)) == 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("env.name", "IcyPond-v0", "config.env.name = 'IcyPond-v0': unknown environment"),
        ("algo.name", "dqn", "config.algo.name = 'dqn': unknown algorithm"),
        ("algo.cost_limit", -1.0, "config.algo.cost_limit = -1.0: must be >= 0"),
        ("algo.alpha", 1.5, r"config.algo.alpha = 1.5: must lie in \(0, 1\)"),
        ("algo.num_minibatches", 3, "config.algo.num_minibatches = 3: must divide the batch"),
        ("total_timesteps", 10, "config.total_timesteps = 10: must cover at least one batch"),
        ("algo.discount", 1.2, r"config.algo.discount = 1.2: must lie in \[0, 1\]"),
        ("algo.variant", "top_j", "config.algo.variant = 'top_j': unknown variant"),
        ("algo.lagrange_optimizer", "rmsprop", "config.algo.lagrange_optimizer = 'rmsprop'"),
    ],
)
def test_invalid_configs_name_the_field(field, value, message):
    config = tiny_config("cvar_ppo")
    section, name = field.split(".") if "." in field else (None, field)
    (config[section] if section else config)[name] = value
    with pytest.raises(ConfigError, match=message):
        validate(config)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_kl", 0.0, "config.algo.max_kl = 0.0: must be positive"),
        ("max_kl", -0.01, "config.algo.max_kl = -0.01: must be positive"),
        ("min_max_kl", 0.0, "config.algo.min_max_kl = 0.0: must be positive"),
        ("backtrack_ratio", 1.0, r"config.algo.backtrack_ratio = 1.0: must lie in \(0, 1\)"),
        ("backtrack_ratio", 0.0, r"config.algo.backtrack_ratio = 0.0: must lie in \(0, 1\)"),
        ("moment_estimator", "mean", "config.algo.moment_estimator = 'mean': unknown"),
        ("critic_normalization", "batch", "config.algo.critic_normalization = 'batch': unknown"),
        ("scale_matching", "steps", "config.algo.scale_matching = 'steps': unknown"),
        ("fisher_product", "exact", "config.algo.fisher_product = 'exact': unknown"),
        ("fisher_sample_stride", 0, "config.algo.fisher_sample_stride = 0: must be at least 1"),
        ("max_kl_mode", "trusty", "config.algo.max_kl_mode = 'trusty': unknown max_kl_mode"),
        ("alpha_train", 0.05, r"config.algo.alpha_train = 0.05: must lie in \(alpha, 1\)"),
        ("alpha_train", 0.01, r"config.algo.alpha_train = 0.01: must lie in \(alpha, 1\)"),
        ("alpha_train", 1.0, r"config.algo.alpha_train = 1.0: must lie in \(alpha, 1\)"),
        (
            "recovery_hysteresis",
            1.0,
            r"config.algo.recovery_hysteresis = 1.0: must lie in \[0, 1\)",
        ),
    ],
)
def test_invalid_trust_region_configs_name_the_field(field, value, message):
    config = tiny_config("varcpo")  # alpha = 0.05; the trust-region fields exist
    config.algo.max_kl_mode = "adaptive"  # alpha_train is read (and checked) only then
    validate(config)
    config.algo[field] = value
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_alpha_train_is_ignored_with_a_fixed_max_kl():
    config = tiny_config("varcpo")
    config.algo.alpha, config.algo.alpha_train = 0.1, 0.1  # varcpo_ecoant's α
    validate(config)


def test_unknown_env_keyword_is_named():
    config = tiny_config("ppo")
    config.env.kwargs.batery = 5.0
    with pytest.raises(ConfigError, match="config.env.kwargs.batery = 5.0: not an option of"):
        validate(config)


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        (None, "num_seed", "config.num_seed = 3: not a field of config; did you mean 'num_seeds'?"),
        (
            "log",
            "updates_per_chunks",
            "not a field of config.log; did you mean 'updates_per_chunk'",
        ),
        ("checkpoint", "max_to_keeep", "did you mean 'max_to_keep'"),
        ("algo", "discont", "config.algo.discont = 3: not a field of ppo_lag; did you mean 'disc"),
        ("algo.cost_shaping", "horizn", "not a field of config.algo.cost_shaping; did you mean 'h"),
        ("env", "kwarg", "config.env.kwarg = 3: not a field of config.env; did you mean 'kwargs'"),
    ],
)
def test_a_misspelt_field_is_named_with_the_closest_valid_one(section, field, message):
    config = tiny_config("ppo_lag")
    target = config
    for name in section.split(".") if section else ():
        target = target[name]
    target[field] = 3
    with pytest.raises(ConfigError, match=message):
        validate(config)


def _cli(*args, env=None, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "jaxsafe.run", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def _own_lines(stderr):
    """stderr without XLA's own log lines (``W1201 08:02:00.000 ...``, e.g. from the tests'
    compilation cache)."""
    return [line for line in stderr.splitlines() if not re.match(r"[IWEF]\d{4} ", line)]


def _experiment_file(tmp_path, body):
    path = tmp_path / "experiment.py"
    path.write_text(textwrap.dedent(body))
    return path


# tiny_config("ppo"): the CLI test below runs it with a 4-step IcyLake (every update sees
# finished episodes, so the summary is printed); the rejected override compiles nothing.
TINY_EXPERIMENT = f"""
    import sys

    sys.path.insert(0, {str(REPO / "tests")!r})
    from conftest import tiny_config

    def get_config():
        config = tiny_config("ppo")
        config.log.progress = True
        return config
"""


def test_cli_trains_and_rejects_bad_overrides(tmp_path):
    experiment = _experiment_file(tmp_path, TINY_EXPERIMENT)
    workdir = tmp_path / "run"
    # Any environment option can be set, also one the experiment file leaves at its default.
    options = ["--config.env.kwargs.map_name=4x4", "--config.env.kwargs.max_steps_in_episode=4"]
    done = _cli(f"--config={experiment}", f"--workdir={workdir}", *options)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "update 3/3" in done.stdout and "episode/return" in done.stdout
    assert len(_rows(workdir)) == 6
    kwargs = json.loads((workdir / "config.json").read_text())["env"]["kwargs"]
    assert kwargs == {"map_name": "4x4", "max_steps_in_episode": 4}

    bad = _cli(
        f"--config={experiment}", f"--workdir={tmp_path / 'bad'}", "--config.algo.discont=0.9"
    )
    assert bad.returncode == 2
    assert _own_lines(bad.stderr) == [
        "error: config.algo.discont = 0.9: not a field of ppo; did you mean 'discount'?"
    ]
    assert not (tmp_path / "bad").exists()


def test_sharded_run_on_two_devices_equals_the_unsharded_one(tmp_path):
    """Two fake CPU devices, one seed each, give the single-device results.

    Equal up to float32 rounding: XLA compiles a per-device batch of one seed with other
    kernels than a batch of two, so sums may round differently (~1e-6 relative).
    """
    script = tmp_path / "sharded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import jax
            sys.path.insert(0, {str(REPO / "tests")!r})
            from conftest import tiny_config
            from jaxsafe.experiment import run_experiment

            assert len(jax.devices()) == int(sys.argv[2])
            state = run_experiment(tiny_config("ppo"), sys.argv[1], report=lambda line: None)
            print(len(jax.tree.leaves(state.params)[0].sharding.device_set))
            """
        )
    )
    outputs = {}
    for devices in (1, 2):
        # Added to the suite's flags (its compile level, conftest.py).
        devices_flag = f"--xla_force_host_platform_device_count={devices}"
        flags = {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {devices_flag}".strip()}
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / f"run{devices}"), str(devices)],
            capture_output=True,
            text=True,
            env={**os.environ, **flags},
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outputs[devices] = done.stdout.split()[-1]
    assert outputs == {1: "1", 2: "2"}
    single, sharded = _rows(tmp_path / "run1"), _rows(tmp_path / "run2")
    assert [sorted(row) for row in single] == [sorted(row) for row in sharded]
    for row_single, row_sharded in zip(single, sharded, strict=True):
        for key, value in row_single.items():
            np.testing.assert_allclose(row_sharded[key], value, rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*.py")), ids=lambda p: p.stem)
def test_every_shipped_experiment_config_validates(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    validate(module.get_config())


@pytest.mark.parametrize(
    ("field", "replacement"),
    [("learning_rate", "algo.policy_learning_rate"), ("trust_region", "algo.max_kl_mode")],
)
def test_a_renamed_field_names_its_replacement(field, replacement):
    config = tiny_config("ppo") if field == "learning_rate" else tiny_config("varcpo")
    config.algo[field] = 1e-3 if field == "learning_rate" else "adaptive"
    with pytest.raises(ConfigError, match=f"config.algo.{field} = .*renamed: use {replacement}"):
        validate(config)


def test_unknown_algo_field_is_named_with_the_valid_ones():
    config = tiny_config("cpo")
    config.algo.clip_epsilon = 0.2  # a PPO field
    with pytest.raises(ConfigError, match="config.algo.clip_epsilon = 0.2: not a field of cpo"):
        validate(config)


def test_a_risk_algorithm_owns_its_exceedance_threshold():
    config = tiny_config("varcpo")
    config.log.cost_threshold = 15.0
    with pytest.raises(ConfigError, match="reports P\\(C >= algo.cost_limit\\) itself"):
        validate(config)


def test_checkpoints_keep_zero_size_leaves(tmp_path):
    """orbax refuses arrays of size 0 (PointGoal level 1 has no vases: a [S, 0, 2] leaf)."""
    from jaxsafe.checkpointing import Checkpointer

    state = {"vases": jnp.zeros((2, 0, 2)), "x": jnp.arange(4.0).reshape(2, 2)}
    checkpointer = Checkpointer(tmp_path / "checkpoints")
    checkpointer.save(1, state)
    restored = checkpointer.restore(1, state)
    checkpointer.close()
    assert restored["vases"].shape == (2, 0, 2) and restored["vases"].dtype == jnp.float32
    np.testing.assert_array_equal(restored["x"], state["x"])
