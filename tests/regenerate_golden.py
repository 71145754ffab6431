"""Rewrites ``tests/golden/runs.json`` from the current code: ``python tests/regenerate_golden.py``.

``python tests/regenerate_golden.py NAME [NAME ...]`` retrains only the named runs (e.g.
``csc/IcyLake-v1``) and keeps the others' stored fingerprints.

Only for a deliberate numerical change (see ``tests/golden_runs.py``); commit the new file on
its own, saying what changed and how the learning check compared before and after.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from jaxsafe import cpu_compilation

cpu_compilation.configure()  # as the suite compiles (conftest.py); before gymnax starts JAX

sys.path.insert(0, str(Path(__file__).parent))

from golden_runs import GOLDEN_FILE, fingerprint, run_names, train_golden  # noqa: E402


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(run_names()))
    if unknown:
        raise SystemExit(f"unknown golden runs {unknown}; known: {run_names()}")
    runs = json.loads(GOLDEN_FILE.read_text()) if names and GOLDEN_FILE.exists() else {}
    for name in names or run_names():
        print(f"training {name}", flush=True)
        runs[name] = fingerprint(*train_golden(name))
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_FILE} ({len(runs)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
