"""The paired-ratio statistic of ``benchmarks/env_throughput.py``: the median's confidence
interval against scipy's binomial distribution and against its coverage in simulation."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import env_throughput  # noqa: E402


@pytest.mark.parametrize("n", [6, 7, 10, 15, 31, 40, 101])
def test_median_interval_uses_the_binomial_order_statistics(n):
    values = np.random.default_rng(n).lognormal(size=n)
    median, low, high = env_throughput.median_interval(values)
    ordered = np.sort(values)
    j = max(j for j in range(1, n) if stats.binom.cdf(j - 1, n, 0.5) <= 0.025)
    assert median == pytest.approx(np.median(values))
    assert (low, high) == (ordered[j - 1], ordered[n - j])
    assert 1 - 2 * stats.binom.cdf(j - 1, n, 0.5) >= 0.95


def test_median_interval_covers_the_median_as_often_as_it_claims():
    rng = np.random.default_rng(0)
    n, trials = 15, 4000
    samples = rng.exponential(size=(trials, n))  # population median ln 2
    hits = 0
    for values in samples:
        _, low, high = env_throughput.median_interval(values)
        hits += low <= np.log(2) <= high
    assert hits / trials == pytest.approx(1 - 2 * stats.binom.cdf(3, n, 0.5), abs=0.015)


def test_median_interval_needs_six_values():
    with pytest.raises(ValueError, match="5 values"):
        env_throughput.median_interval([1.0, 2.0, 3.0, 4.0, 5.0])


def _measurement(implementation, warm_s, rounds_id="run-1"):
    return env_throughput.Measurement(
        "EcoAnt-v2",
        implementation,
        "generalized",
        64,
        8,
        10.0,
        min(warm_s),
        "0",
        tuple(warm_s),
        rounds_id,
    )


def test_paired_ratio_divides_reference_by_ours_round_by_round():
    ours = _measurement("jaxsafe", [1.0, 2.0, 1.0, 4.0, 1.0, 1.0, 2.0])
    reference = _measurement("safenax", [1.1, 2.2, 1.1, 4.4, 1.1, 1.1, 2.2])
    assert env_throughput.paired_ratio(ours, reference) == pytest.approx((1.1, 1.1, 1.1))
    assert env_throughput.paired_ratio(ours, _measurement("safenax", [1.0] * 6)) is None


def test_paired_ratio_pairs_only_rows_timed_in_the_same_rounds():
    ours = _measurement("jaxsafe", [1.0] * 7)
    other_run = _measurement("safenax", [1.1] * 7, rounds_id="run-2")
    unstamped = _measurement("safenax", [1.1] * 7, rounds_id="")
    assert env_throughput.paired_ratio(ours, other_run) is None
    assert env_throughput.paired_ratio(ours, unstamped) is None


def test_json_round_trip_keeps_the_rounds_and_reads_older_rows():
    row = _measurement("jaxsafe", [1.0, 2.0])
    assert env_throughput._from_json(env_throughput._to_json(row)) == row
    older = env_throughput._to_json(row)
    del older["warm_s"], older["rounds_id"]
    restored = env_throughput._from_json(older)
    assert (restored.warm_s, restored.rounds_id) == ((), "")


def test_env_specs_carry_keyword_options_and_navigation_expands():
    assert env_throughput.parse_env_spec("PointHazards-v1") == ("PointHazards-v1", {})
    name, options = env_throughput.parse_env_spec("PointHazards-v1:dt=0.5,max_steps_in_episode=9")
    assert (name, options) == ("PointHazards-v1", {"dt": 0.5, "max_steps_in_episode": 9})
    assert env_throughput.parse_env_spec("X-v1:layout=fixed")[1] == {"layout": "fixed"}
    args = env_throughput.parse_args(["--envs", "navigation", "PointHazards-v1:dt=0.5"])
    assert args.envs == [*env_throughput.NAVIGATION_ENVS, "PointHazards-v1:dt=0.5"]
    with pytest.raises(SystemExit):
        env_throughput.parse_args(["--envs", "PointHazards-v1:bogus=1"])
    assert env_throughput.parse_args(["--safety-gymnasium"]).safety_gymnasium == list(
        env_throughput.SAFETY_GYMNASIUM_ENVS
    )
    assert env_throughput.parse_args([]).safety_gymnasium is None
