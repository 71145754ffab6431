"""``jaxsafe-compare --run LABEL=DIR [--run LABEL=DIR ...] --output DIR``
(or ``python -m jaxsafe.compare``).

Compares finished runs: overlays their learning curves (mean ± std over seeds) for each
``--metric``, one PNG per metric under ``--output``, and prints a markdown table of each run's
evaluation (``eval.json`` of :mod:`jaxsafe.eval`: mean over seeds, per-seed values in brackets),
also written to ``<output>/table.md``. ``--reference METRIC=VALUE`` draws a dashed level.
First it warns (on stderr, without stopping) about runs that do not compare as they stand: a run
without ``eval.json``, a metric no run or only some runs have (``--eval_metric`` when given),
runs on different environments or evaluated differently (:mod:`jaxsafe.comparability`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import app, flags

from jaxsafe.comparability import comparison_warnings
from jaxsafe.plotting import plot_comparison
from jaxsafe.workdir import EVAL_FILE

_RUNS = flags.DEFINE_multi_string("run", None, "LABEL=WORKDIR of a finished run.")
_OUTPUT = flags.DEFINE_string("output", None, "Directory for the figures and table.md.")
_METRICS = flags.DEFINE_list(
    "metric", ["episode/return", "episode/cost"], "Training metrics to plot."
)
_EVAL_METRICS = flags.DEFINE_list(
    "eval_metric", ["return", "cost", "discounted_cost", "var_exceedance"], "eval.json columns."
)
_REFERENCES = flags.DEFINE_multi_string("reference", [], "METRIC=VALUE dashed reference line.")
flags.mark_flags_as_required(["run", "output"])


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise app.UsageError(f"--{flag} {value!r}: expected NAME=VALUE")
        pairs[name] = rest
    return pairs


def evaluation_table(runs: Mapping[str, str | Path], metrics: Sequence[str]) -> str:
    """A markdown table of the runs' ``eval.json`` metrics (a run without one shows "–")."""
    header = ["run", "episodes", *metrics]
    rows = []
    for label, workdir in runs.items():
        path = Path(workdir) / EVAL_FILE
        if not path.is_file():
            rows.append([label, "–", *["–"] * len(metrics)])
            continue
        report = json.loads(path.read_text())
        cells = []
        for metric in metrics:
            entry = report["metrics"].get(metric)
            if entry is None:
                cells.append("–")
                continue
            per_seed = ", ".join(f"{value:.3g}" for value in entry["per_seed"])
            cells.append(f"{entry['mean']:.3g} [{per_seed}]")
        rows.append([label, str(report["episodes"]), *cells])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    runs = _pairs(_RUNS.value, "run")
    missing = [str(d) for d in runs.values() if not (Path(d) / "metrics.jsonl").is_file()]
    if missing:
        print(f"error: no metrics.jsonl in {', '.join(missing)}", file=sys.stderr)
        sys.exit(2)
    checked_eval_metrics = _EVAL_METRICS.value if flags.FLAGS["eval_metric"].present else []
    for line in comparison_warnings(runs, _METRICS.value, checked_eval_metrics):
        print(f"warning: {line}", file=sys.stderr)
    references = {name: float(v) for name, v in _pairs(_REFERENCES.value, "reference").items()}
    output = Path(_OUTPUT.value)
    for path in plot_comparison(runs, _METRICS.value, output, reference_lines=references):
        print(f"wrote {path}")
    table = evaluation_table(runs, _EVAL_METRICS.value)
    output.mkdir(parents=True, exist_ok=True)
    (output / "table.md").write_text(table + "\n")
    print(table)


def cli() -> None:
    """The ``jaxsafe-compare`` console script."""
    app.run(main)


if __name__ == "__main__":
    cli()
