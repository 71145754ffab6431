"""``jaxsafe-compare --run LABEL=DIR [--run LABEL=DIR ...] --output DIR``
(or ``python -m jaxsafe.compare``).

Compares finished runs: overlays their learning curves (mean ± std over seeds) for each
``--metric``, one PNG per metric under ``--output``, and prints a markdown table of each run's
evaluation (``eval.json`` of :mod:`jaxsafe.eval`: mean over seeds, per-seed values in brackets),
also written to ``<output>/table.md``. ``--reference METRIC=VALUE`` draws a dashed level.
First it warns (on stderr, without stopping) about runs that do not compare as they stand: a run
without ``eval.json``, a metric no run or only some runs have (``--eval_metric`` when given),
runs on different environments or evaluated differently (:mod:`jaxsafe.comparability`).
Failures print one line and exit with the status of :mod:`jaxsafe.cli_errors`: 2 for a bad
flag, a run without ``metrics.jsonl`` or an unreadable ``metrics.jsonl``/``eval.json``, 4 when
the disk refuses.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from absl import app, flags

from jaxsafe.cli_errors import exit_on_error, parse_flags
from jaxsafe.comparability import comparison_warnings
from jaxsafe.plotting import plot_comparison
from jaxsafe.workdir import EVAL_FILE, RunNotFoundError, WorkdirError, read_json

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
    """A markdown table of the runs' ``eval.json`` metrics (a run without one shows "–").

    Raises:
        WorkdirError: an ``eval.json`` is not valid JSON.
    """
    header = ["run", "episodes", *metrics]
    rows = []
    for label, workdir in runs.items():
        path = Path(workdir) / EVAL_FILE
        if not path.is_file():
            rows.append([label, "–", *["–"] * len(metrics)])
            continue
        report = read_json(path)
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
    del argv  # parse_flags refuses positional arguments
    with exit_on_error():
        runs = _pairs(_RUNS.value, "run")
        missing = [str(d) for d in runs.values() if not (Path(d) / "metrics.jsonl").is_file()]
        if missing:
            raise RunNotFoundError(f"no metrics.jsonl in {', '.join(missing)}")
        references = _pairs(_REFERENCES.value, "reference")
        try:
            references = {name: float(value) for name, value in references.items()}
        except ValueError as error:
            raise app.UsageError(f"--reference: {error}") from None
        output = Path(_OUTPUT.value)
        if output.exists() and not output.is_dir():
            raise WorkdirError(f"--output {output} is a file, not a directory")
        checked_eval_metrics = _EVAL_METRICS.value if flags.FLAGS["eval_metric"].present else []
        for line in comparison_warnings(runs, _METRICS.value, checked_eval_metrics):
            print(f"warning: {line}", file=sys.stderr)
        try:
            paths = plot_comparison(runs, _METRICS.value, output, reference_lines=references)
        except ValueError as error:  # a malformed metrics.jsonl, named with its line
            raise WorkdirError(str(error)) from None
        table = evaluation_table(runs, _EVAL_METRICS.value)
        output.mkdir(parents=True, exist_ok=True)
        (output / "table.md").write_text(table + "\n")
    for path in paths:
        print(f"wrote {path}")
    print(table)


def cli() -> None:
    """The ``jaxsafe-compare`` console script."""
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    cli()
