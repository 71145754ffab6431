"""The dev extra pins ruff to the version the code is formatted with, and with that version the
README's ``ruff check . && ruff format --check .`` passes on the repository."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff_requirement() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dev = project["optional-dependencies"]["dev"]
    (requirement,) = [r for r in dev if re.match(r"ruff\b", r)]
    return requirement


def test_dev_extra_pins_one_ruff_version():
    assert re.fullmatch(r"ruff==\d+\.\d+\.\d+", _ruff_requirement())


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=" ".join)
def test_the_pinned_ruff_passes_the_readme_checks(command):
    pinned = _ruff_requirement().partition("==")[2]
    version = subprocess.run(
        [sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True
    )
    if version.returncode != 0:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    installed = version.stdout.split()[-1]
    if installed != pinned:
        pytest.skip(f"ruff {installed} is installed, the dev extra pins {pinned}")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
