"""MuJoCo's notice that the optional Warp is absent is dropped; what else it prints is kept."""

import subprocess
import sys
import textwrap

import pytest

from jaxsafe_envs import warp_notice


def test_importing_the_environments_prints_nothing():
    """The brax tasks are imported on first use (``jaxsafe_envs.EcoAnt``), and with them brax
    and MuJoCo's Warp bridge."""
    script = "import sys, jaxsafe_envs; jaxsafe_envs.EcoAnt; assert 'mujoco.mjx' in sys.modules"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Failed to import" not in done.stdout + done.stderr


def test_the_other_environments_do_not_import_brax():
    script = (
        "import sys, jaxsafe_envs; jaxsafe_envs.make('IcyLake-v1'); "
        "assert jaxsafe_envs.loaded_brax_class('EcoAnt') is None; "
        "assert 'brax' not in sys.modules and 'mujoco' not in sys.modules; "
        "eco_ant = jaxsafe_envs.EcoAnt; assert jaxsafe_envs.loaded_brax_class('EcoAnt') is eco_ant"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_only_the_absent_warp_lines_are_dropped(tmp_path, monkeypatch, capsys):
    module = tmp_path / "noisy_bridge.py"
    module.write_text(
        textwrap.dedent(
            """
            print("Failed to import warp: No module named 'warp'")
            print("Failed to import warp: libcuda.so.1: cannot open shared object file")
            print("Failed to import mujoco_warp: No module named 'warp'")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    warp_notice.import_quietly("noisy_bridge")
    assert capsys.readouterr().out == (
        "Failed to import warp: libcuda.so.1: cannot open shared object file\n"
    )


def test_a_missing_bridge_is_skipped_but_a_broken_one_raises(tmp_path, monkeypatch):
    warp_notice.import_quietly("no_such_bridge_module")
    (tmp_path / "broken_bridge.py").write_text("import no_such_dependency_of_the_bridge\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_of_the_bridge"):
        warp_notice.import_quietly("broken_bridge")
