"""What ships, one line each: the algorithms, the environments and the experiment configs.

``jaxsafe-run --list`` (``python -m jaxsafe.run --list``) prints :func:`listing`. The
experiment configs are the ``experiments/*.py`` files of the source tree: an editable install
(``pip install -e .``, the README's) finds them beside ``src/``, and the listing gives their
absolute folder, so that a ``--config`` path can be copied from it. A wheel does not ship them;
the listing then says so.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS

EXPERIMENTS_DIR = Path(__file__).resolve().parents[2] / "experiments"
"""``experiments/`` of the source tree this package runs from (absent for a wheel install)."""


def listing(experiments_dir: Path = EXPERIMENTS_DIR) -> str:
    """The algorithms, environments and experiment configs in ``experiments_dir``, one line
    each under a heading that says how to use them."""
    algorithms = {name: _first_line(module.__doc__) for name, module in ALGORITHMS.items()}
    environments = {name: jaxsafe_envs.describe(name) for name in jaxsafe_envs.registered()}
    sections = [
        "algorithms (--config.algo.name=NAME):",
        *_rows(algorithms),
        "",
        "environments (--config.env.name=NAME; options: --config.env.kwargs.<option>=VALUE):",
        *_rows(environments),
        "",
    ]
    if experiments_dir.is_dir():
        experiments = {
            path.name: _first_line(ast.get_docstring(ast.parse(path.read_text())))
            for path in sorted(experiments_dir.glob("*.py"))
        }
        sections += [f"experiment configs (--config {experiments_dir}/FILE):", *_rows(experiments)]
    else:
        sections.append(
            "experiment configs: not installed (a wheel does not ship experiments/); they are "
            "the experiments/*.py files of the jaxsafe source tree"
        )
    return "\n".join(sections)


def _first_line(docstring: str | None) -> str:
    """The summary line of a docstring ("" without one)."""
    return (docstring or "").strip().split("\n", 1)[0]


def _rows(entries: dict[str, str]) -> list[str]:
    """``  name  description`` lines, the descriptions aligned."""
    width = max(map(len, entries), default=0)
    return [f"  {name.ljust(width)}  {text}".rstrip() for name, text in entries.items()]
