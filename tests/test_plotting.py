"""Plotting helpers: loading metrics.jsonl, PNG output, and the summary table against numpy."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from jaxsafe import plotting

NAN = math.nan
STEPS_PER_UPDATE = 128

# One row per (seed, update); None is written as JSON null, NAN as the token NaN.
# Seed 0, update 2 finished no episode (count 0): its episode/* placeholders must become NaN.
# Seed 0, update 3 has a NaN return and a null multiplier.
ROWS = {
    (0, 1): {"episode/return": 1.0, "episode/cost": 0.5, "episode/count": 2, "m": 0.1, "v": 0},
    (0, 2): {"episode/return": 0.0, "episode/cost": 0.0, "episode/count": 0, "m": 0.2, "v": 1},
    (0, 3): {"episode/return": NAN, "episode/cost": 2.0, "episode/count": 1, "m": None, "v": 0},
    (0, 4): {"episode/return": 4.0, "episode/cost": 3.0, "episode/count": 3, "m": 0.4, "v": 2},
    (1, 1): {"episode/return": 2.0, "episode/cost": 1.0, "episode/count": 1, "m": 0.0, "v": 1},
    (1, 2): {"episode/return": 2.5, "episode/cost": 1.5, "episode/count": 1, "m": 0.3, "v": 0},
    (1, 3): {"episode/return": 3.0, "episode/cost": 0.0, "episode/count": 2, "m": 0.6, "v": 3},
    (1, 4): {"episode/return": 6.0, "episode/cost": 1.0, "episode/count": 1, "m": 0.9, "v": 1},
    (2, 1): {"episode/return": 0.5, "episode/cost": 4.0, "episode/count": 1, "m": 0.2, "v": 0},
    (2, 2): {"episode/return": 1.5, "episode/cost": 3.0, "episode/count": 4, "m": 0.5, "v": 2},
    (2, 3): {"episode/return": 2.0, "episode/cost": 6.0, "episode/count": 1, "m": 0.7, "v": 1},
    (2, 4): {"episode/return": 5.0, "episode/cost": 2.0, "episode/count": 2, "m": 1.0, "v": 0},
}
# Interleaved and out of order; (1, 2) is first written with stale values and later rewritten.
ORDER = [(0, 1), (1, 1), (2, 1), (1, 2), (0, 2), (2, 2), (2, 3), (0, 3), (1, 3), (1, 4), (0, 4)]
ORDER += [(2, 4)]
STALE = {(1, 2): {"episode/return": 99.0, "episode/cost": 99.0, "episode/count": 5, "m": 9.0}}

# What load_metrics must return, worked out by hand from ROWS.
EXPECTED = {
    0: {
        "episode/return": [1.0, NAN, NAN, 4.0],
        "episode/cost": [0.5, NAN, 2.0, 3.0],
        "episode/count": [2, 0, 1, 3],
        "constraint/multiplier": [0.1, 0.2, NAN, 0.4],
        "constraint/var_exceedance": [0, 1, 0, 2],
    },
    1: {
        "episode/return": [2.0, 2.5, 3.0, 6.0],
        "episode/cost": [1.0, 1.5, 0.0, 1.0],
        "episode/count": [1, 1, 2, 1],
        "constraint/multiplier": [0.0, 0.3, 0.6, 0.9],
        "constraint/var_exceedance": [1, 0, 3, 1],
    },
    2: {
        "episode/return": [0.5, 1.5, 2.0, 5.0],
        "episode/cost": [4.0, 3.0, 6.0, 2.0],
        "episode/count": [1, 4, 1, 2],
        "constraint/multiplier": [0.2, 0.5, 0.7, 1.0],
        "constraint/var_exceedance": [0, 2, 1, 0],
    },
}


def _line(seed, update, values, with_var_exceedance=True):
    row = {"update": update, "seed": seed, "env_steps": STEPS_PER_UPDATE * update}
    row |= {k: v for k, v in values.items() if k not in ("m", "v")}
    row["constraint/multiplier"] = values["m"]
    if with_var_exceedance and "v" in values:
        row["constraint/var_exceedance"] = values["v"]
    return json.dumps(row)  # writes NaN as the bare token NaN, None as null


def _write_run(workdir, with_var_exceedance=True):
    fresh = [_line(*key, ROWS[key], with_var_exceedance) for key in ORDER]
    stale = [_line(*key, values, with_var_exceedance) for key, values in STALE.items()]
    lines = fresh[:3] + stale + fresh[3:]  # the stale (1, 2) comes before its rewrite
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "metrics.jsonl").write_text("\n".join(lines) + "\n\n")  # trailing blank line
    return workdir


@pytest.fixture
def run(tmp_path):
    return _write_run(tmp_path / "run")


def test_load_metrics_matches_hand_computed_arrays(run):
    data = plotting.load_metrics(run)
    assert list(data) == [0, 1, 2]
    for seed, expected in EXPECTED.items():
        columns = data[seed]
        assert set(columns) == {"update", "env_steps", *expected}
        np.testing.assert_array_equal(columns["update"], [1, 2, 3, 4])
        np.testing.assert_array_equal(columns["env_steps"], STEPS_PER_UPDATE * np.arange(1, 5))
        assert columns["update"].dtype == np.int64 and columns["env_steps"].dtype == np.int64
        for metric, values in expected.items():
            np.testing.assert_array_equal(columns[metric], np.array(values, np.float64))


def test_load_metrics_skips_truncated_last_line_but_rejects_bad_middle_line(run):
    path = run / "metrics.jsonl"
    good = path.read_text()
    path.write_text(good + '{"update": 5, "seed": 0, "episode/ret')
    with pytest.warns(UserWarning, match="truncated"):
        data = plotting.load_metrics(run)
    np.testing.assert_array_equal(data[0]["update"], [1, 2, 3, 4])
    path.write_text("not json\n" + good)
    with pytest.raises(ValueError, match=":1:"):
        plotting.load_metrics(run)


def test_plot_run_writes_present_metrics_and_var_exceedance(run):
    paths = plotting.plot_run(
        run,
        metrics=("episode/return", "episode/cost", "episode/not_logged"),
        reference_lines={"episode/cost": 2.0},
    )
    names = ["episode_return.png", "episode_cost.png", "constraint_var_exceedance.png"]
    assert paths == [run / "plots" / name for name in names]
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(names)
    for path in paths:
        content = path.read_bytes()
        assert content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) > 5_000


def test_plot_run_without_var_exceedance_and_custom_output_dir(tmp_path):
    workdir = _write_run(tmp_path / "run", with_var_exceedance=False)
    output_dir = tmp_path / "figures"
    paths = plotting.plot_run(workdir, metrics="constraint/multiplier", output_dir=output_dir)
    assert paths == [output_dir / "constraint_multiplier.png"]
    assert paths[0].stat().st_size > 0
    assert not (workdir / "plots").exists()


def test_band_aligns_seeds_on_update():
    series = [
        plotting._Series(np.array([1, 2, 4]), np.array([10, 20, 40]), np.array([1.0, 2.0, 4.0])),
        plotting._Series(np.array([2, 3, 4]), np.array([20, 30, 40]), np.array([4.0, 3.0, 8.0])),
    ]
    band = plotting._band(series)
    np.testing.assert_array_equal(band.steps, [10, 20, 30, 40])
    np.testing.assert_allclose(band.mean, [1.0, 3.0, 3.0, 6.0])
    np.testing.assert_allclose(band.std, [0.0, np.std([2.0, 4.0]), 0.0, np.std([4.0, 8.0])])


def _parse(table):
    """Data rows of the table as {first cell: [cells...]}, split on runs of 2+ spaces."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in table.splitlines()[1:]]
    rows = [row for row in rows if not set(row[0]) <= {"-"}]
    return {row[0]: row[1:] for row in rows}


def _expected_entries(metric, window):
    return np.array([np.nanmean(np.array(EXPECTED[s][metric])[-window:]) for s in EXPECTED])


@pytest.mark.parametrize(("last_fraction", "window"), [(0.5, 2), (0.1, 1), (1.0, 4)])
def test_summary_table_equals_numpy_means(run, last_fraction, window):
    table = plotting.summary_table(run, last_fraction=last_fraction)
    rows = _parse(table)
    metrics = ["episode/return", "episode/cost", "constraint/var_exceedance"]
    assert rows["seed"] == ["updates", *metrics]
    for column, metric in enumerate(metrics, start=1):
        entries = _expected_entries(metric, window)
        for seed in EXPECTED:
            assert rows[str(seed)][0] == f"{5 - window}-4"
            np.testing.assert_allclose(float(rows[str(seed)][column]), entries[seed], rtol=1e-3)
        mean, std = (float(x) for x in rows["mean ± std"][column - 1].split(" ± "))
        np.testing.assert_allclose([mean, std], [entries.mean(), entries.std()], rtol=1e-3)


def test_summary_table_window_and_validation(tmp_path):
    assert plotting._window(30, 0.1) == 3  # not 4 from 0.1 * 30 = 3.0000000000000004
    assert plotting._window(5, 0.1) == 1
    workdir = _write_run(tmp_path / "run", with_var_exceedance=False)
    with pytest.raises(ValueError, match="last_fraction"):
        plotting.summary_table(workdir, last_fraction=0.0)
    with pytest.raises(ValueError, match="none of"):
        plotting.summary_table(workdir, metrics=("episode/not_logged",))
    rows = _parse(plotting.summary_table(workdir, metrics="constraint/multiplier"))
    assert rows["seed"] == ["updates", "constraint/multiplier"]
    assert float(rows["0"][1]) == pytest.approx(0.4)  # last update; the null is skipped


def test_plot_comparison_overlays_runs_and_skips_metrics_no_run_logged(tmp_path):
    first = _write_run(tmp_path / "first")
    second = _write_run(tmp_path / "second", with_var_exceedance=False)
    output_dir = tmp_path / "compare"
    paths = plotting.plot_comparison(
        {"A": first, "B": second},
        ["episode/return", "constraint/var_exceedance", "episode/not_logged"],
        output_dir,
        reference_lines={"episode/return": 1.0},
    )
    assert paths == [
        output_dir / "episode_return.png",
        output_dir / "constraint_var_exceedance.png",
    ]
    for path in paths:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_compare_table_reads_each_runs_eval_json(tmp_path):
    from jaxsafe.compare import evaluation_table

    evaluated = tmp_path / "evaluated"
    evaluated.mkdir()
    report = {
        "episodes": 10,
        "metrics": {"return": {"mean": 0.5, "per_seed": [0.25, 0.75]}},
    }
    (evaluated / "eval.json").write_text(json.dumps(report))
    table = evaluation_table({"A": evaluated, "B": tmp_path / "missing"}, ["return", "cost"])
    assert table.splitlines() == [
        "| run | episodes | return | cost |",
        "|---|---|---|---|",
        "| A | 10 | 0.5 [0.25, 0.75] | – |",
        "| B | – | – | – |",
    ]


def test_compare_names_an_unreadable_eval_json_in_one_line(tmp_path):
    from jaxsafe.compare import evaluation_table
    from jaxsafe.workdir import WorkdirError

    run = _write_run(tmp_path / "run")
    (run / "eval.json").write_text('{"episodes": 10, "metr')  # an evaluation killed mid-write
    with pytest.raises(WorkdirError, match=r"eval.json is not valid JSON"):
        evaluation_table({"A": run}, ["return"])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxsafe.compare",
            f"--run=A={run}",
            f"--output={run / 'eval.json'}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    own = [line for line in done.stderr.splitlines() if not re.match(r"[IWEF]\d{4} ", line)]
    assert own == [f"error: --output {run / 'eval.json'} is a file, not a directory"]
