"""Every algorithm reproduces its golden run bit for bit (see ``tests/golden_runs.py``).

The same runs also show that two vmapped seeds train to finite, different results (every
metric, including any not stored yet), for every registered algorithm (each has an IcyLake
run); ``tests/test_training.py`` traces the IcyLake configs to check that ``update`` is traced
once, and ``tests/test_cost_shaping.py`` reads the stored shaped runs.
"""

import numpy as np
import pytest
from golden_runs import (
    NUM_SEEDS,
    NUM_UPDATES,
    differences,
    fingerprint,
    load_golden,
    run_names,
    train_golden,
)

from jaxsafe.algorithms import ALGORITHMS

# Read at collection, before any test registers an algorithm of its own (test_extending.py).
REGISTERED = sorted(ALGORITHMS)


def test_every_registered_algorithm_has_an_icy_lake_golden_run():
    assert [name for name in REGISTERED if f"{name}/IcyLake-v1" not in run_names()] == []


def test_every_golden_run_is_stored():
    assert sorted(load_golden()) == sorted(run_names())


@pytest.mark.parametrize("name", run_names())
def test_golden_run_is_reproduced_bit_for_bit(name):
    state, metrics = train_golden(name)
    assert metrics["loss/policy"].shape[:2] == (NUM_SEEDS, NUM_UPDATES)  # (flip: members)
    for key, values in metrics.items():
        assert np.isfinite(values).all(), key
    assert not np.array_equal(metrics["loss/value"][0], metrics["loss/value"][1])
    problems = differences(load_golden()[name], fingerprint(state, metrics))
    assert not problems, f"{name} changed:\n" + "\n".join(problems[:20])
