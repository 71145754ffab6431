"""Report plumbing shared by the benchmark scripts.

A report is a markdown file ``results/<stem>_<device-kind>.md``: a title, a header of
``- name: value`` lines (device, library versions), one ``- command: `...` `` line per run that
contributed to it, the results table and notes. Beside it, ``<stem>_<device-kind>.json`` holds
the header entries, the commands, the notes and the raw measurements (one JSON object each), which
is what a later ``--append`` run reads back.

A run writes a report only when asked: ``--output PATH`` writes (replaces) ``PATH``, ``--append``
merges into ``PATH`` or, without ``--output``, into the committed ``results/`` report. Without
either it prints the table and writes nothing, and a ``--quick`` smoke run never writes into
``results/`` (:func:`report_path`).

The scripts run as ``python benchmarks/<script>.py``, so this module is imported as a sibling
(``import reporting``): the script's directory is on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax

from jaxsafe import compilation_cache, cpu_compilation

# The benchmarks compile as jaxsafe-run does. Every benchmark imports this module before any
# module that imports gymnax, whose import starts JAX's backends (XLA reads its flags then).
cpu_compilation.configure()

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def add_report_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every benchmark script shares: repeats, seed, output, append and notes."""
    parser.add_argument("--repeats", type=int, default=2, help="warm calls; the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="write the report to PATH (markdown; the raw numbers go to the .json beside it), "
        "replacing it unless --append (default: print the table, write nothing)",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="merge into the report at --output or, without --output, into the committed "
        "benchmarks/results/<script>_<device>.md (re-measured points replace theirs)",
    )
    parser.add_argument("--note", action="append", default=[], help="a note for the report")
    parser.add_argument(
        "--compilation-cache",
        metavar="DIR|off",
        help="the persistent XLA compilation cache (default: JAX_COMPILATION_CACHE_DIR, else "
        "~/.cache/jaxsafe/xla); programs loaded from it report a load time as their compile "
        "time, and the report says how many were: use 'off' to time compilation itself",
    )


class CompilationCache:
    """The persistent compilation cache of a benchmark run, and how many programs it served."""

    def __init__(self, setting: str | None):
        self.directory = compilation_cache.configure(setting)
        self.hits = 0
        jax.monitoring.register_event_listener(self._count)

    def _count(self, event: str, **_: Any) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            self.hits += 1

    def notes(self, command: str) -> list[str]:
        """A note for the report when some compile times of ``command`` are cache loads."""
        if not self.hits:
            return []
        return [
            f"{self.hits} program(s) of `{command}` were loaded from the "
            f"persistent compilation cache ({self.directory}): their compile s is a load time "
            "(--compilation-cache off times compilation itself)."
        ]


def device_header(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the numbers are measured on: the first device, the device count, the jax version,
    then ``extra`` (other library versions, say), in that order."""
    device = jax.devices()[0]
    return {
        "device_kind": device.device_kind,
        "platform": device.platform,
        "device_count": str(jax.device_count()),
        "jax": jax.__version__,
        **(extra or {}),
    }


def results_path(stem: str, directory: Path = RESULTS_DIR) -> Path:
    """``<directory>/<stem>_<device-kind>.md``, the device kind lower-cased and hyphenated."""
    kind = re.sub(r"[^a-z0-9]+", "-", jax.devices()[0].device_kind.lower()).strip("-")
    return directory / f"{stem}_{kind}.md"


def report_path(
    parser: argparse.ArgumentParser, args: argparse.Namespace, stem: str
) -> Path | None:
    """Where the run's report goes: ``--output``, else with ``--append`` the committed
    :func:`results_path`, else ``None`` (print only). Stops with a usage error (exit status 2),
    before anything is measured, when a ``--quick`` run would write into ``results/``."""
    if args.output is None and not args.append:
        return None
    path = args.output if args.output is not None else results_path(stem)
    if getattr(args, "quick", False) and path.resolve().is_relative_to(RESULTS_DIR):
        parser.error(
            f"--quick never writes into {RESULTS_DIR}: a smoke run's numbers are not results; "
            "drop --append, or pass --output PATH outside it"
        )
    return path


def command_line(script: str, argv: Sequence[str]) -> str:
    """The command that ran ``script`` (a path, as ``__file__``) with ``argv``, for the report."""
    return shlex.join(["python", f"benchmarks/{Path(script).name}", *argv])


def write_report(
    path: Path,
    title: str,
    header: Mapping[str, str],
    commands: Sequence[str],
    table: str,
    notes: Sequence[str],
    rows_json: Sequence[Mapping[str, Any]],
) -> None:
    """Writes the markdown report to ``path`` and the raw numbers to the ``.json`` beside it.

    The JSON holds the ``header`` entries at the top level, then ``commands``, ``notes`` and
    ``measurements`` (``rows_json``).
    """
    markdown = [
        f"# {title}",
        "",
        *(f"- {name}: {value}" for name, value in header.items()),
        *(f"- command: `{command}`" for command in commands),
        "",
        table,
        "",
        *(f"- {note}" for note in notes),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(markdown) + "\n")
    raw = {
        **header,
        "commands": list(commands),
        "notes": list(notes),
        "measurements": [dict(row) for row in rows_json],
    }
    path.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")


def publish(
    path: Path | None,
    title: str,
    header: Mapping[str, str],
    commands: Sequence[str],
    table: str,
    notes: Sequence[str],
    rows_json: Sequence[Mapping[str, Any]],
) -> None:
    """Prints ``table``, then writes the report to ``path`` (:func:`write_report`) or, when
    ``path`` is ``None``, says that nothing was written and how to keep it."""
    print(table)
    if path is None:
        print(
            "not written: pass --output PATH to keep this report, or --append to merge it into "
            f"{RESULTS_DIR.parent.name}/{RESULTS_DIR.name}/"
        )
        return
    write_report(path, title, header, commands, table, notes, rows_json)
    print(f"written: {path} and {path.with_suffix('.json').name}")


def load_report(path: Path) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The raw measurements, notes and commands of the report at ``path`` (read from the
    ``.json`` beside it); all empty if there is none."""
    raw_path = path.with_suffix(".json")
    if not raw_path.exists():
        return [], [], []
    raw = json.loads(raw_path.read_text())
    return raw["measurements"], raw["notes"], raw["commands"]
