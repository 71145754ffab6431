"""The persistent compilation cache: where it goes, how it turns off, and that a second run of a
config compiles none of its training programs."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import pytest

from jaxsafe import compilation_cache

TESTS = Path(__file__).parent


@pytest.fixture
def restore_jax_cache_config():
    names = (
        "jax_enable_compilation_cache",
        "jax_compilation_cache_dir",
        "jax_persistent_cache_min_compile_time_secs",
    )
    saved = {name: getattr(jax.config, name) for name in names}
    yield
    for name, value in saved.items():
        jax.config.update(name, value)


def test_a_directory_turns_it_on_there(tmp_path, restore_jax_cache_config):
    directory = compilation_cache.configure(str(tmp_path / "xla"))
    assert directory == tmp_path / "xla" and directory.is_dir()
    assert jax.config.jax_enable_compilation_cache
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")


@pytest.mark.parametrize("setting", ["off", "OFF", " off "])
def test_off_turns_it_off(setting, restore_jax_cache_config):
    assert compilation_cache.configure(setting) is None
    assert not jax.config.jax_enable_compilation_cache


def test_the_default_is_jax_own_variable_else_the_user_cache(
    tmp_path, monkeypatch, restore_jax_cache_config
):
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "from_env"))
    assert compilation_cache.configure(None) == tmp_path / "from_env"
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home_cache"))
    assert compilation_cache.default_directory() == tmp_path / "home_cache" / "jaxsafe" / "xla"
    assert compilation_cache.configure(None) == tmp_path / "home_cache" / "jaxsafe" / "xla"


def test_an_unusable_directory_warns_and_compiles_without(tmp_path, restore_jax_cache_config):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.warns(UserWarning, match="not a writable directory"):
        assert compilation_cache.configure(str(blocker / "xla")) is None
    assert not jax.config.jax_enable_compilation_cache


_RUN_AND_COUNT = textwrap.dedent(
    f"""
    import json, sys
    sys.path.insert(0, {str(TESTS)!r})
    import jax
    from conftest import tiny_config
    from jaxsafe import compilation_cache
    from jaxsafe.experiment import run_experiment

    compiled, hits = [], []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **info: compiled.append(info.get("fun_name"))
        if event == "/jax/core/compile/backend_compile_duration" else None
    )
    jax.monitoring.register_event_listener(
        lambda event, **info: hits.append(1)
        if event == "/jax/compilation_cache/cache_hits" else None
    )
    compilation_cache.configure(None)
    run_experiment(tiny_config("ppo"), sys.argv[1], report=lambda line: None)
    print(json.dumps({{"compiled": compiled, "hits": len(hits)}}))
    """
)


def test_a_second_run_of_a_config_compiles_no_training_program(tmp_path):
    """Two processes train tiny_config("ppo") into the session's cache (JAX_COMPILATION_CACHE_DIR,
    set by conftest.py); the second loads its init and chunk programs instead of compiling."""
    assert os.environ.get("JAX_COMPILATION_CACHE_DIR")
    runs = []
    for name in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "-c", _RUN_AND_COUNT, str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    second = runs[1]
    assert not {"_run_chunk", "<lambda>"} & set(second["compiled"]), second
    assert second["hits"] >= 2  # init and the chunk program at least
