"""``jaxsafe.compare`` warns about runs without evaluation, unknown metrics, and runs on
different environments or evaluated differently."""

import json
import os
import subprocess
import sys

from jaxsafe.comparability import comparison_warnings


def _run(workdir, env="IcyLake-v1", kwargs=None, metrics=("episode/return",), evaluation=None):
    workdir.mkdir(parents=True)
    config = {"env": {"name": env, "kwargs": kwargs or {}}, "algo": {"name": "ppo"}}
    (workdir / "config.json").write_text(json.dumps(config))
    row = {"update": 1, "seed": 0, "env_steps": 8, **dict.fromkeys(metrics, 1.0)}
    (workdir / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    if evaluation is not None:
        episodes, deterministic, names = evaluation
        report = {
            "episodes": episodes,
            "deterministic": deterministic,
            "update": 1,
            "metrics": {name: {"mean": 1.0, "per_seed": [1.0]} for name in names},
        }
        (workdir / "eval.json").write_text(json.dumps(report))
    return workdir


def test_comparable_runs_give_no_warning(tmp_path):
    runs = {label: _run(tmp_path / label, evaluation=(100, False, ["return"])) for label in "AB"}
    assert comparison_warnings(runs, ["episode/return"], ["return"]) == []


def test_each_problem_is_one_line(tmp_path):
    runs = {
        "A": _run(tmp_path / "A", evaluation=(100, False, ["return", "cost"])),
        "B": _run(
            tmp_path / "B",
            kwargs={"map_name": "8x8"},
            metrics=("episode/return", "episode/cost"),
            evaluation=(50, True, ["return"]),
        ),
        "C": _run(tmp_path / "C"),
    }
    warnings = comparison_warnings(runs, ["episode/cost", "episode/retrun"], ["cost"])
    assert warnings == [
        f"run C ({tmp_path / 'C'}) has no eval.json: its evaluation row is empty; "
        f"run python -m jaxsafe.eval --workdir {tmp_path / 'C'}",
        "training metric 'episode/cost': not logged by run A, C",
        "training metric 'episode/retrun': no run logged it; there are episode/cost, "
        "episode/return",
        "eval.json metric 'cost': not evaluated by run B",
        "the runs ran on different environments: A: IcyLake-v1; B: IcyLake-v1 map_name='8x8'; "
        "C: IcyLake-v1",
        "the runs were evaluated differently: A: 100 episodes, sampled policy; "
        "B: 50 episodes, deterministic policy",
    ]


def test_the_cli_prints_the_warnings_and_still_compares(tmp_path):
    a = _run(tmp_path / "A", evaluation=(100, False, ["return"]))
    b = _run(tmp_path / "B", env="PointCircle-v1")
    done = subprocess.run(
        [sys.executable, "-m", "jaxsafe.compare", f"--run=A={a}", f"--run=B={b}"]
        + [f"--output={tmp_path / 'out'}", "--metric=episode/return,episode/typo"],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert [line.split(":")[1].strip() for line in warnings] == [
        f"run B ({b}) has no eval.json",
        "training metric 'episode/typo'",
        "the runs ran on different environments",
    ]
    assert (tmp_path / "out" / "table.md").is_file()
