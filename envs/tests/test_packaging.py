"""The ``jaxsafe-envs`` distribution installs and runs on its own, without ``jaxsafe``.

Slow (a fresh virtualenv and a ``pip install`` from the package index, ~1-3 min, plus the
brax compiles): run with ``pytest -m slow envs/tests/test_packaging.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ENVS_DIR = Path(__file__).resolve().parents[1]

# Runs inside the fresh virtualenv: jaxsafe must be absent, and every registered environment
# must reset and step under jit(vmap(scan)) with finite outputs.
SCRIPT = textwrap.dedent(
    """
    try:
        import jaxsafe
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"jaxsafe is importable from an envs-only install: {jaxsafe.__file__}")

    import jax
    import jax.numpy as jnp

    import jaxsafe_envs

    NUM_ENVS, NUM_STEPS = 8, 5
    names = jaxsafe_envs.registered()
    expected = {"AntCircle-v1", "EcoAnt-v1", "EcoAnt-v2", "IcyLake-v1", "PointCircle-v1"}
    assert expected <= set(names), names

    for name in names:
        env, params = jaxsafe_envs.make(name)
        action_space = env.action_space(params)
        obs_shape = env.observation_space(params).shape

        def rollout(key, env=env, params=params, action_space=action_space):
            key_reset, key_steps = jax.random.split(key)
            obs, state = env.reset(key_reset, params)

            def body(state, key):
                key_action, key_step = jax.random.split(key)
                action = action_space.sample(key_action)
                obs, state, reward, terminated, truncated, info = env.step(
                    key_step, state, action, params
                )
                return state, (obs, reward, info["cost"], terminated, truncated)

            _, out = jax.lax.scan(body, state, jax.random.split(key_steps, NUM_STEPS))
            return obs, out

        keys = jax.random.split(jax.random.key(0), NUM_ENVS)
        first_obs, (obs, reward, cost, terminated, truncated) = jax.jit(jax.vmap(rollout))(keys)
        assert first_obs.shape == (NUM_ENVS, *obs_shape), (name, first_obs.shape)
        assert obs.shape == (NUM_ENVS, NUM_STEPS, *obs_shape), (name, obs.shape)
        assert reward.shape == cost.shape == terminated.shape == (NUM_ENVS, NUM_STEPS)
        assert truncated.dtype == jnp.bool_ and terminated.dtype == jnp.bool_
        for label, value in [("obs", first_obs), ("obs", obs), ("reward", reward),
                             ("cost", cost)]:
            assert bool(jnp.all(jnp.isfinite(value))), (name, label)
        print(name, "ok", flush=True)
    print("ALL OK")
    """
)


def _clean_env() -> dict[str, str]:
    """The current environment minus anything that would leak the outer interpreter's paths."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.slow
def test_envs_package_installs_alone_and_runs(tmp_path):
    # Install from a copy, so the build leaves nothing in the repository and the package
    # cannot depend on files outside envs/.
    source = tmp_path / "jaxsafe-envs"
    shutil.copytree(
        ENVS_DIR,
        source,
        ignore=shutil.ignore_patterns("tests", "build", "dist", "*.egg-info", "__pycache__"),
    )
    venv = tmp_path / "venv"
    env = _clean_env()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    python = str(venv / "bin" / "python")

    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert install.returncode == 0, install.stdout[-5000:] + install.stderr[-5000:]

    run = subprocess.run(
        [python, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # nothing of the repository on sys.path
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert "ALL OK" in run.stdout
