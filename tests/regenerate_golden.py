"""Rewrites ``tests/golden/runs.json`` from the current code: ``python tests/regenerate_golden.py``.

Only for a deliberate numerical change (see ``tests/golden_runs.py``); commit the new file on
its own, saying what changed and how the learning check compared before and after.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from golden_runs import GOLDEN_FILE, fingerprint, run_names, train_golden  # noqa: E402


def main() -> None:
    runs = {}
    for name in run_names():
        print(f"training {name}", flush=True)
        runs[name] = fingerprint(*train_golden(name))
    GOLDEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN_FILE.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_FILE} ({len(runs)} runs)")


if __name__ == "__main__":
    main()
