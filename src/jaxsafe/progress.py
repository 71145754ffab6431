"""The lines a training run prints while it runs: ``compiling …`` first, then one per chunk.

:meth:`Progress.compiling` says at once that the run is compiling, which on a CPU takes from
seconds to minutes before the first chunk of updates returns. After each chunk
:meth:`Progress.update` prints::

    update 20/97 | env steps 81,920/397,312 per seed | 11,204 steps/s (3 seeds) | ETA 00:01:48
    | return 0.812 | cost 10.035 | λ 0.000

Environment steps count per seed, as ``total_timesteps``, the ``env_steps`` column of
``metrics.jsonl`` and the plots' x axis do; steps/s sum over the seeds (what the device does). The
first chunk's call also compiles, so its line gives its wall time instead of a rate, and the ETA
comes from the mean rate of the chunks after it: compilation is not extrapolated.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


class Progress:
    """The progress lines of one run (or one resumed part of a run).

    Args:
        total: the run's updates, ``U``.
        steps_per_update: environment steps of one update of one seed.
        num_seeds: seeds trained together, ``S``.
        report: where the lines go.
        clock: seconds, monotonic.
    """

    def __init__(
        self,
        total: int,
        steps_per_update: int,
        num_seeds: int,
        report: Callable[[str], None],
        clock: Callable[[], float] = time.perf_counter,
    ):
        self._total = total
        self._steps_per_update = steps_per_update
        self._num_seeds = num_seeds
        self._report = report
        self._clock = clock
        self._start = clock()
        self._previous: tuple[int, float] | None = None  # (done, time) after the last chunk
        self._first: tuple[int, float] | None = None  # (done, time) after the first chunk

    def compiling(self, run: str, updates_per_chunk: int) -> None:
        """The line printed before anything compiles; ``run`` names the algorithm and env."""
        updates = _count(updates_per_chunk, "update")
        self._report(
            f"compiling {run} ({_count(self._num_seeds, 'seed')}, {updates} per compiled call) …"
        )
        self._start = self._clock()

    def update(self, done: int, metrics: dict[str, np.ndarray]) -> None:
        """The line after a chunk that ended at update ``done``, from its ``{name: [S, K]}``
        metrics."""
        now = self._clock()
        per_seed = self._steps_per_update
        parts = [
            f"update {done}/{self._total}",
            f"env steps {done * per_seed:,}/{self._total * per_seed:,} per seed",
        ]
        if self._previous is None:
            parts.append(f"first chunk {now - self._start:.1f} s, compilation included")
            self._first = (done, now)
        else:
            last_done, last_time = self._previous
            chunk_rate = self._steps(done - last_done) / max(now - last_time, 1e-9)
            first_done, first_time = self._first
            mean_rate = self._steps(done - first_done) / max(now - first_time, 1e-9)
            eta = self._steps(self._total - done) / max(mean_rate, 1e-9)
            parts.append(f"{chunk_rate:,.0f} steps/s ({_count(self._num_seeds, 'seed')})")
            parts.append(f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")
        self._previous = (done, now)
        finished = metrics["episode/count"] > 0
        for label, name in (("return", "episode/return"), ("cost", "episode/cost")):
            if finished.any():
                parts.append(f"{label} {metrics[name][finished].mean():.3f}")
        if "constraint/multiplier" in metrics:
            parts.append(f"λ {metrics['constraint/multiplier'][:, -1].mean():.3f}")
        self._report(" | ".join(parts))

    def _steps(self, updates: int) -> int:
        """Environment steps of ``updates`` updates, summed over the seeds."""
        return updates * self._steps_per_update * self._num_seeds


def _count(number: int, noun: str) -> str:
    """``"1 seed"``, ``"3 seeds"``."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
