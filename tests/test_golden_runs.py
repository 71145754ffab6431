"""Every algorithm reproduces its golden run bit for bit (see ``tests/golden_runs.py``)."""

import pytest
from golden_runs import differences, fingerprint, load_golden, run_names, train_golden


def test_every_golden_run_is_stored():
    assert sorted(load_golden()) == sorted(run_names())


@pytest.mark.parametrize("name", run_names())
def test_golden_run_is_reproduced_bit_for_bit(name):
    problems = differences(load_golden()[name], fingerprint(*train_golden(name)))
    assert not problems, f"{name} changed:\n" + "\n".join(problems[:20])
