"""Benchmark scripts write a report only when asked, never from a --quick run into
benchmarks/results/, env_throughput.py measures our environments without safenax, and
arithmetic_rate.py reports FLOP rates from its measurements."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import arithmetic_rate  # noqa: E402
import env_throughput  # noqa: E402
import reporting  # noqa: E402
import train_throughput  # noqa: E402
import update_split  # noqa: E402


@pytest.fixture
def committed_results():
    """The committed reports, checked unchanged after the test."""
    before = {path: path.read_bytes() for path in reporting.RESULTS_DIR.iterdir()}
    yield
    assert {path: path.read_bytes() for path in reporting.RESULTS_DIR.iterdir()} == before


@pytest.fixture
def without_safenax(monkeypatch):
    monkeypatch.setitem(sys.modules, "safenax", None)  # `import safenax` raises ImportError


def _fake_measurement(num_envs):
    return env_throughput.Measurement(
        "IcyLake-v1", "jaxsafe", env_throughput.NO_BACKEND, num_envs, 8, 2.0, 1.0, "0"
    )


def test_a_run_prints_its_table_and_writes_nothing_by_default(
    monkeypatch, capsys, committed_results
):
    monkeypatch.setattr(env_throughput, "run", lambda args: ([_fake_measurement(4)], []))
    env_throughput.main(["--envs", "IcyLake-v1"])
    out = capsys.readouterr().out
    assert "| IcyLake-v1 | - | 4 |" in out
    assert "not written: pass --output PATH" in out


def test_output_writes_there_and_append_merges(monkeypatch, tmp_path, committed_results):
    path = tmp_path / "report.md"
    for n, extra in ((4, []), (16, ["--append"])):
        monkeypatch.setattr(env_throughput, "run", lambda args, n=n: ([_fake_measurement(n)], []))
        env_throughput.main(["--envs", "IcyLake-v1", "--output", str(path), *extra])
    text = path.read_text()
    assert "| IcyLake-v1 | - | 4 |" in text and "| IcyLake-v1 | - | 16 |" in text
    assert path.with_suffix(".json").is_file()


@pytest.mark.parametrize(
    ("script", "argv"),
    [
        (env_throughput, ["--quick", "--append"]),
        (env_throughput, ["--quick", "--output", "RESULTS/env_throughput_cpu.md"]),
        (train_throughput, ["--quick", "--append"]),
    ],
    ids=["env --append", "env --output", "train --append"],
)
def test_quick_refuses_to_write_the_committed_results(script, argv, capsys, committed_results):
    argv = [a.replace("RESULTS", str(reporting.RESULTS_DIR)) for a in argv]
    with pytest.raises(SystemExit) as stopped:
        script.parse_args(argv)
    assert stopped.value.code == 2
    assert "--quick never writes into" in capsys.readouterr().err


def test_update_split_writes_only_when_asked(tmp_path):
    assert update_split.parse_args([]).report_path is None
    assert update_split.parse_args(["--append"]).report_path == reporting.results_path(
        update_split.RESULTS_STEM
    )
    assert update_split.parse_args(["--output", str(tmp_path / "u.md")]).report_path == (
        tmp_path / "u.md"
    )


def test_our_environments_are_measured_without_safenax(
    without_safenax, tmp_path, capsys, committed_results
):
    path = tmp_path / "report.md"
    env_throughput.main(["--envs", "IcyLake-v1", "--quick", "--output", str(path)])
    out = capsys.readouterr().out
    assert "skipped" not in out
    rows = [line for line in path.read_text().splitlines() if line.startswith("| IcyLake-v1 |")]
    assert [row.split(" | ")[2] for row in rows] == ["1", "64"]


def test_the_safenax_comparison_names_its_extra(without_safenax, capsys):
    with pytest.raises(SystemExit):
        env_throughput.parse_args(["--help"])
    assert env_throughput.SAFENAX_INSTALL in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as stopped:
        env_throughput.parse_args(["--safenax"])
    assert stopped.value.code == 2
    assert "not installed: pip install -e '.[safenax]'" in capsys.readouterr().err


def test_arithmetic_rate_reports_flops_per_second_and_refuses_discrete_actions(capsys):
    row = {"what": "square matmul A A", "shape": "1 × 1", "flops": 3e9, "seconds": 0.5}
    assert arithmetic_rate.markdown_table([row]).splitlines()[-1] == (
        "| square matmul A A | 1 × 1 | 3,000.0 | 500.000 | 6.0 |"
    )
    with pytest.raises(SystemExit) as stopped:
        arithmetic_rate.parse_args(["--env", "IcyLake-v1"])
    assert stopped.value.code == 2
    assert "continuous-action" in capsys.readouterr().err
