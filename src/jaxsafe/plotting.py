"""Learning curves and end-of-training tables from a run's ``metrics.jsonl``.

A run's work directory holds ``metrics.jsonl``: one JSON object per line, one line per logged
update per seed, with keys ``update`` (1-based), ``seed`` (index ``0..S-1``), ``env_steps``
(cumulative environment steps of that seed) and float metrics such as ``episode/return``,
``episode/cost``, ``episode/count`` and ``constraint/var_exceedance``. Lines of different seeds
interleave, and a resumed run may write a ``(seed, update)`` again: the later line wins.

A value is missing (NaN in the arrays below) when it is null or NaN, when its key is absent from
the line, and, for every ``episode/*`` mean, when the line's ``episode/count`` is 0: no episode
finished in that update, so the logged mean is a placeholder 0, not a measurement.

Usage::

    from jaxsafe.plotting import plot_run, summary_table

    plot_run("runs/ppo_lag", reference_lines={"episode/cost": 25.0})
    print(summary_table("runs/ppo_lag"))
"""

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from jaxsafe.workdir import METRICS_FILE

DEFAULT_METRICS = ("episode/return", "episode/cost")
AUTO_METRICS = ("constraint/var_exceedance",)  # plotted/tabulated whenever present
EPISODE_COUNT = "episode/count"
DPI = 120

Metrics = dict[int, dict[str, np.ndarray]]
"""Seed to metric name to ``[U_seed]`` array over that seed's updates, sorted by update."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_metrics(workdir: str | PathLike[str], member: int | None = None) -> Metrics:
    """Reads ``<workdir>/metrics.jsonl`` into per-seed arrays.

    Args:
      workdir: the run's work directory.
      member: for a family's run (rows with ``member``), that member's rows only.

    Returns:
      ``{seed: {metric: array [U_seed]}}``, seeds ascending, each array over that seed's
      distinct updates sorted ascending. ``"update"`` (int64) and ``"env_steps"`` (int64 when
      every value is present, else float64 with NaN) are included; every other numeric key is a
      float64 array with NaN where missing (see the module docstring); ``"seed"`` is the outer
      key only. When a ``(seed, update)`` occurs on several lines, the last line replaces the
      earlier ones as a whole.

    Raises:
      FileNotFoundError: no ``metrics.jsonl`` in ``workdir``.
      ValueError: a line other than the last is not a JSON object with ``seed`` and ``update``.
        A malformed *last* line (a run killed mid-write) is skipped with a warning.
    """
    rows = _read_rows(Path(workdir) / METRICS_FILE)
    latest: dict[int, dict[int, dict[str, Any]]] = {}
    for row in rows:
        if member is not None and row.get("member") != member:
            continue
        latest.setdefault(int(row["seed"]), {})[int(row["update"])] = row
    return {seed: _columns(latest[seed]) for seed in sorted(latest)}


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """Parses the non-blank lines of a JSON-lines file into dicts."""
    numbered = [(i + 1, line) for i, line in enumerate(path.read_text().splitlines())]
    numbered = [(number, line) for number, line in numbered if line.strip()]
    rows = []
    for position, (number, line) in enumerate(numbered):
        try:
            row = json.loads(line)  # accepts the NaN/Infinity tokens Python's json writes
        except json.JSONDecodeError as error:
            if position == len(numbered) - 1:
                warnings.warn(f"{path}:{number}: skipping truncated last line", stacklevel=3)
                continue
            raise ValueError(f"{path}:{number}: not valid JSON ({error})") from error
        if not isinstance(row, dict) or "seed" not in row or "update" not in row:
            raise ValueError(f"{path}:{number}: expected an object with 'seed' and 'update'")
        rows.append(row)
    return rows


def _columns(rows_by_update: Mapping[int, Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Turns one seed's ``{update: row}`` into ``{metric: array sorted by update}``."""
    updates = sorted(rows_by_update)
    rows = [rows_by_update[update] for update in updates]
    keys = {key for row in rows for key, value in row.items() if _is_number(value)}
    columns = {"update": np.asarray(updates, dtype=np.int64)}
    for key in sorted(keys - {"seed", "update"}):
        values = [row.get(key) for row in rows]
        columns[key] = np.array([v if _is_number(v) else np.nan for v in values], np.float64)
    if "env_steps" in columns and np.all(np.isfinite(columns["env_steps"])):
        columns["env_steps"] = columns["env_steps"].astype(np.int64)
    _mask_empty_episode_means(columns)
    return columns


def _is_number(value: Any) -> bool:
    """True for JSON numbers (and booleans, as 0/1); False for null, strings, lists, objects."""
    return isinstance(value, int | float)


def _mask_empty_episode_means(columns: dict[str, np.ndarray]) -> None:
    """Sets ``episode/*`` means to NaN (in place) at updates where no episode finished."""
    if EPISODE_COUNT not in columns:
        return
    empty = columns[EPISODE_COUNT] == 0  # a NaN count is unknown, not empty: left as is
    for key, values in columns.items():
        if key.startswith("episode/") and key != EPISODE_COUNT:
            values[empty] = np.nan


# ---------------------------------------------------------------------------------------------
# Selecting and aligning series
# ---------------------------------------------------------------------------------------------


class _Series(NamedTuple):
    """One seed's present values of one metric, all ``[V]``."""

    update: np.ndarray
    steps: np.ndarray
    values: np.ndarray


class _Band(NamedTuple):
    """Across-seed statistics on the union of the seeds' updates, all ``[U]``."""

    steps: np.ndarray  # mean over seeds of env steps at that update
    mean: np.ndarray
    std: np.ndarray  # population std (ddof=0) over the seeds present there


def _metric_names(metrics: str | Sequence[str]) -> list[str]:
    """The requested metrics followed by :data:`AUTO_METRICS`, without duplicates."""
    requested = [metrics] if isinstance(metrics, str) else list(metrics)
    return list(dict.fromkeys([*requested, *AUTO_METRICS]))


def _present(data: Metrics, metric: str) -> bool:
    """Whether any seed has at least one present value of ``metric``."""
    return any(np.isfinite(columns.get(metric, np.nan)).any() for columns in data.values())


def _x_key(data: Metrics) -> str:
    """``"env_steps"`` when every seed logged it, else ``"update"``."""
    return "env_steps" if all("env_steps" in columns for columns in data.values()) else "update"


def _series(columns: Mapping[str, np.ndarray], metric: str, x_key: str) -> _Series:
    """One seed's updates, x values and values of ``metric`` where it is present."""
    values = columns.get(metric, np.full(columns["update"].shape, np.nan))
    keep = np.isfinite(values)
    return _Series(columns["update"][keep], columns[x_key][keep], values[keep])


def _band(series: Sequence[_Series]) -> _Band:
    """Mean ± std across seeds, aligned on ``update`` over the seeds present at each update."""
    updates = np.unique(np.concatenate([s.update for s in series]))
    values = np.full((len(series), updates.size), np.nan)
    steps = np.full_like(values, np.nan)
    for i, s in enumerate(series):
        columns = np.searchsorted(updates, s.update)
        values[i, columns] = s.values
        steps[i, columns] = s.steps
    return _Band(np.nanmean(steps, 0), np.nanmean(values, 0), np.nanstd(values, 0))


# ---------------------------------------------------------------------------------------------
# Plotting
# ---------------------------------------------------------------------------------------------


def plot_run(
    workdir: str | PathLike[str],
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    output_dir: str | PathLike[str] | None = None,
    *,
    reference_lines: Mapping[str, float] | None = None,
    reference_labels: Mapping[str, str] | None = None,
    member: int | None = None,
) -> list[Path]:
    """Plots learning curves of a run, one PNG per metric.

    Each figure has x = environment steps, one thin line per seed, and the mean across seeds
    ± its (population) standard deviation as a shaded band. Seeds are aligned on ``update``;
    the mean at an update is over the seeds that have a value there (so ``episode/*`` metrics
    use only updates where ``episode/count > 0``). With a single seed only its line is drawn.

    Args:
      workdir: the run's work directory, holding ``metrics.jsonl``.
      metrics: metric names to plot; ``constraint/var_exceedance`` is added when present.
        Metrics with no present value in any seed are skipped.
      output_dir: where to write; ``<workdir>/plots`` by default (created if needed).
      reference_lines: metric name to a level drawn as a horizontal dashed line, e.g. the cost
        limit ``{"episode/cost": 25.0}``.
      reference_labels: metric name to the name of its level in the legend, shown as
        ``"<name> = <level>"`` (e.g. ``{"constraint/var_exceedance": "α"}``); by default
        ``"reference <level>"``.
      member: for a family's run, the member whose curves to plot (:func:`load_metrics`).

    Returns:
      The written paths, ``<output_dir>/<metric with "/" replaced by "_">.png``, in the order
      of ``metrics``.
    """
    workdir = Path(workdir)
    data = load_metrics(workdir, member)
    output_dir = workdir / "plots" if output_dir is None else Path(output_dir)
    reference_lines = reference_lines or {}
    reference_labels = reference_labels or {}
    paths = []
    for metric in filter(lambda m: _present(data, m), _metric_names(metrics)):
        reference = reference_lines.get(metric)
        label = _reference_label(reference, reference_labels.get(metric))
        figure = _curve_figure(data, metric, workdir.resolve().name, reference, label)
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / f"{metric.replace('/', '_')}.png"
        figure.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def _reference_label(level: float | None, name: str | None) -> str:
    """The legend entry of a reference level: ``"<name> = <level>"`` or ``"reference <level>"``."""
    if level is None:
        return ""
    return f"reference {level:g}" if name is None else f"{name} = {level:g}"


def _curve_figure(
    data: Metrics, metric: str, run_name: str, reference: float | None, reference_label: str
) -> Figure:
    """Draws one metric's seed lines, mean ± std band and optional reference line.

    Uses a bare Agg-backed :class:`~matplotlib.figure.Figure`, never ``pyplot``: nothing is
    registered with pyplot's figure manager, so there is nothing to close and no interactive
    backend is touched; the figure is freed when it goes out of scope.
    """
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x_key = _x_key(data)
    series = {seed: _series(columns, metric, x_key) for seed, columns in data.items()}
    series = {seed: s for seed, s in series.items() if s.values.size}
    many = len(series) > 1
    for seed, s in series.items():
        width, alpha = (0.8, 0.55) if many else (1.5, 1.0)
        axes.plot(s.steps, s.values, lw=width, alpha=alpha, label=f"seed {seed}")
    if many:
        band = _band(list(series.values()))
        low, high = band.mean - band.std, band.mean + band.std
        axes.fill_between(band.steps, low, high, color="0.2", alpha=0.25, lw=0, label="± std")
        axes.plot(band.steps, band.mean, color="black", lw=2.0, label=f"mean of {len(series)}")
    if reference is not None:
        axes.axhline(reference, color="tab:red", ls="--", lw=1.2, label=reference_label)
    _decorate(axes, metric, run_name, x_key, legend_columns=1 + len(series) // 8)
    return figure


def _decorate(axes: Any, metric: str, run_name: str, x_key: str, legend_columns: int) -> None:
    """Title, axis labels, grid, engineering-notation x ticks and a legend."""
    axes.set_title(f"{metric}  ({run_name})", fontsize=12)
    axes.set_xlabel("environment steps" if x_key == "env_steps" else "update", fontsize=11)
    axes.set_ylabel(metric, fontsize=11)
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", ncols=legend_columns, loc="best", framealpha=0.8)


def plot_comparison(
    runs: Mapping[str, str | PathLike[str]],
    metrics: Sequence[str],
    output_dir: str | PathLike[str],
    *,
    reference_lines: Mapping[str, float] | None = None,
) -> list[Path]:
    """Overlays the learning curves of several runs, one PNG per metric.

    Each run is drawn as its mean across seeds with a ± std band in its own colour (seeds
    aligned as in :func:`plot_run`), so algorithms can be compared on one axis.

    Args:
      runs: label (e.g. ``"VaR-CPO"``) to the run's work directory.
      metrics: metric names; a metric no run logged is skipped.
      output_dir: where to write ``<metric with "/" replaced by "_">.png`` (created if needed).
      reference_lines: metric name to a level drawn as a horizontal dashed line.

    Returns:
      The written paths, in the order of ``metrics``.
    """
    data = {label: load_metrics(workdir) for label, workdir in runs.items()}
    output_dir = Path(output_dir)
    reference_lines = reference_lines or {}
    paths = []
    for metric in metrics:
        present = {label: d for label, d in data.items() if _present(d, metric)}
        if not present:
            continue
        figure = Figure(figsize=(7.5, 4.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        x_key = "env_steps"
        for label, run in present.items():
            x_key = _x_key(run)
            series = [_series(columns, metric, x_key) for columns in run.values()]
            band = _band([s for s in series if s.values.size])
            line = axes.plot(band.steps, band.mean, lw=2.0, label=f"{label} ({len(run)} seeds)")
            colour = line[0].get_color()
            low, high = band.mean - band.std, band.mean + band.std
            axes.fill_between(band.steps, low, high, color=colour, alpha=0.2, lw=0)
        reference = reference_lines.get(metric)
        if reference is not None:
            axes.axhline(reference, color="0.3", ls="--", lw=1.2, label=f"reference {reference:g}")
        _decorate(axes, metric, "mean ± std over seeds", x_key, legend_columns=1)
        output_dir.mkdir(parents=True, exist_ok=True)
        path = output_dir / f"{metric.replace('/', '_')}.png"
        figure.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# Summary table
# ---------------------------------------------------------------------------------------------


def summary_table(
    workdir: str | PathLike[str],
    metrics: str | Sequence[str] = DEFAULT_METRICS,
    last_fraction: float = 0.1,
    member: int | None = None,
) -> str:
    """Tabulates each metric averaged over the end of training, per seed and across seeds.

    For a seed with ``U`` updates the window is its last ``k = max(1, ceil(last_fraction * U))``
    updates; its entry is the mean of the metric's present values in that window, each update
    weighted equally (NaN when none is present). The last row is the mean ± population std
    (ddof=0) of the seed entries, over the seeds whose entry is not NaN.

    Args:
      workdir: the run's work directory, holding ``metrics.jsonl``.
      metrics: metric names; ``constraint/var_exceedance`` is added when present, and metrics
        with no present value in any seed are left out.
      last_fraction: fraction of each seed's updates to average over, in ``(0, 1]``.
      member: for a family's run, the member to tabulate (:func:`load_metrics`).

    Returns:
      A multi-line plain-text table (no trailing newline), ready to print.

    Raises:
      ValueError: ``last_fraction`` outside ``(0, 1]``, or none of ``metrics`` is present.
    """
    if not 0.0 < last_fraction <= 1.0:
        raise ValueError(f"last_fraction must be in (0, 1], got {last_fraction}")
    data = load_metrics(workdir, member)
    names = [m for m in _metric_names(metrics) if _present(data, m)]
    if not names:
        raise ValueError(f"none of {list(metrics)} is present in {Path(workdir) / METRICS_FILE}")
    windows = {
        seed: _window(columns["update"].size, last_fraction) for seed, columns in data.items()
    }
    entries = np.array(
        [[_tail_mean(data[seed].get(m), windows[seed]) for m in names] for seed in data]
    )
    header = ["seed", "updates", *names]
    body = [
        [str(seed), _window_label(data[seed]["update"], windows[seed]), *map(_number, row)]
        for seed, row in zip(data, entries, strict=True)
    ]
    footer = ["mean ± std", "", *map(_mean_std, entries.T)]
    caption = f"mean over the last {100 * last_fraction:g}% of updates, {len(data)} seed(s)"
    return _render(caption, header, body, footer)


def _window(num_updates: int, last_fraction: float) -> int:
    """``max(1, ceil(last_fraction * num_updates))``, robust to float round-off (0.1 * 30)."""
    return max(1, math.ceil(last_fraction * num_updates - 1e-9))


def _tail_mean(values: np.ndarray | None, window: int) -> float:
    """Mean of the present values among the last ``window`` entries; NaN if none."""
    if values is None:
        return math.nan
    tail = values[-window:]
    tail = tail[np.isfinite(tail)]
    return float(tail.mean()) if tail.size else math.nan


def _window_label(updates: np.ndarray, window: int) -> str:
    """``"first-last"`` update of the averaging window."""
    return f"{updates[-window]}-{updates[-1]}"


def _mean_std(entries: np.ndarray) -> str:
    """``"mean ± std"`` over the non-NaN seed entries, or ``"nan"``."""
    present = entries[np.isfinite(entries)]
    if not present.size:
        return _number(math.nan)
    return f"{_number(present.mean())} ± {_number(present.std())}"


def _number(value: float) -> str:
    """Four significant digits."""
    return f"{value:.4g}"


def _render(caption: str, header: list[str], body: list[list[str]], footer: list[str]) -> str:
    """Aligns the cells: first column left, the others right, with rules around the body."""
    rows = [header, *body, footer]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        return "  ".join(cells)

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([caption, line(header), rule, *map(line, body), rule, line(footer)])
