"""Training throughput: env steps per second of full updates, against a rollout-only ceiling.

For each algorithm x environment x seeds ``S`` x environments per seed ``N`` the run builds the
algorithm with ``make_config(algo, env)`` (the environment's preset), overriding
``algo.num_envs = N``, ``algo.num_minibatches`` (the preset's, lowered to the largest divisor of
the batch ``N x T`` if it does not divide it) and, with ``--num-steps``, the rollout length ``T``.
``--set KEY=VALUE`` changes any other existing config field first (``--set
algo.cost_shaping.horizon=5`` times the shaped variant); such rows name their overrides in the
algo column and are kept apart from the preset's.
Two programs are timed on the same ``S`` states, made by ``jax.vmap(algorithm.init)``:

- train: ``jax.jit(jax.vmap(lambda s: run_updates(algorithm, s, K)))``, i.e. ``K`` full updates
  per seed, as the host loop of :mod:`jaxsafe.experiment` runs a chunk. For the PPO family
  (ppo, ppo_lag, cvar_ppo) an update is the rollout, the critics' values and GAE, the variant's
  penalty, epochs of minibatch steps on the policy and both critics, and the normaliser; for the
  trust-region family (trpo_lag, cpo, varcpo) it is the rollout, values and GAE of every stream
  with the episode-level estimates, the constraint's linearisation, the CG solve, the CPO dual
  and the vmapped line search on the policy, epochs of minibatch steps on the critics, and the
  normaliser;
- rollout: the same ``K`` rollouts alone, ``rollout.collect`` in the environment the algorithm
  acts in (``algorithm.env``, e.g. VaR-CPO's cost-augmented one) with its public policy
  ``algorithm.policy(state)`` (what ``update`` samples from), every field of the trajectory and
  of the episode records folded into a checksum (``harness.rollout_program``). That is the
  ceiling for training: what it costs to produce the batch.

Both process ``S x N x T x K`` environment steps per call. ``K`` is ``--updates``, or by default
enough updates for about ``--steps-per-call`` environment steps, clipped to [1, 16].

Timing (as ``env_throughput.py``): each program is lowered, compiled and called once, timed
together as the first call; it is then called ``--repeats`` more times, each continuing from the
state the previous call ended in, and the fastest gives the run time. Compile time is the first
call less the run time. Every call is waited on with ``jax.block_until_ready``.

Memory: the peak during each program's first call and warm calls. On an accelerator that is
``jax.devices()[0].memory_stats()["peak_bytes_in_use"]``, a high-water mark over the whole
process (JAX cannot reset it; run one point per process for exact per-point peaks). On a CPU,
the process's peak resident set size: reset before each program through
``/proc/self/clear_refs`` where Linux allows it (then read from ``VmHWM``), else
``resource.getrusage``'s high-water mark since the process started. The table's header says
which. "XLA MiB" is XLA's own size of the compiled train program (arguments + outputs +
temporaries - aliased), which does not depend on what ran before.

The rollout program depends on the environment the algorithm acts in, N, S, T, K and the policy
network only, so it is measured once and shared by algorithms whose rollouts match (under every
preset ppo, ppo_lag and cvar_ppo do, and so do trpo_lag and cpo; varcpo acts in the
cost-augmented environment and gets its own). ``benchmarks/update_split.py`` times the phases
of one update separately.

Usage::

    python benchmarks/train_throughput.py [--algos ppo ppo_lag cvar_ppo trpo_lag cpo varcpo]
        [--envs IcyLake-v1 PointCircle-v1 EcoAnt-v2] [--num-envs 16 64 256] [--num-seeds 1 4]
        [--num-steps T] [--num-minibatches M] [--updates K] [--steps-per-call STEPS]
        [--backend generalized] [--set KEY=VALUE ...] [--repeats 2] [--output PATH] [--append]
        [--note TEXT] [--quick]

A GPU sweep into the committed results, in parts with ``--append``::

    python benchmarks/train_throughput.py --envs IcyLake-v1 PointCircle-v1 \\
        --num-envs 64 256 1024 4096 16384 --num-seeds 1 4 16 --steps-per-call 4000000 --append
    python benchmarks/train_throughput.py --envs EcoAnt-v2 --num-envs 256 1024 2048 4096 \\
        --num-seeds 1 4 --steps-per-call 1000000 --append

The table goes to stdout; ``--output PATH`` writes it to PATH and the raw numbers to the ``.json``
beside it, and ``--append`` merges into that report (by default the committed
``benchmarks/results/train_throughput_<device-kind>.md``). Without either nothing is written, and
``--quick`` never writes into ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import resource
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import reporting
from harness import (
    OverrideError,
    State,
    add_override_flag,
    algo_label,
    has_phases,
    initial_states,
    point_config,
    report_header,
    rollout_carries,
    rollout_program,
    train_program,
    variant_label,
)

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS, Algorithm
from jaxsafe.train import make_algorithm

DEFAULT_ENVS = ("IcyLake-v1", "PointCircle-v1", "EcoAnt-v2")
TRUST_REGION_NOTE = (
    "trpo_lag, cpo, varcpo: an update is the rollout, values and GAE of every stream with the "
    "episode-level estimates, the constraint's linearisation, CG + CPO dual + vmapped line search "
    "on the policy, epochs of minibatch steps on the critics (MB: the critics' minibatches), the "
    "normaliser; their rollout-only program runs in the environment the algorithm acts in "
    "(varcpo: the cost-augmented one)."
)
UPDATE_LIMITS = (1, 16)
"""Fewest and most updates per timed call when ``--updates`` is not given."""

RESULTS_STEM = "train_throughput"
MIB = 2**20
CLEAR_REFS = Path("/proc/self/clear_refs")
PROC_STATUS = Path("/proc/self/status")

MEMORY_SOURCES = {
    "device": "device peak_bytes_in_use (process high-water mark)",
    "rss_point": "peak RSS of the process during the point (VmHWM, reset per program)",
    "rss_process": "peak RSS of the process since it started (getrusage high-water mark)",
}


@dataclasses.dataclass(frozen=True)
class Point:
    """One configuration of the sweep."""

    algo: str
    env: str
    num_seeds: int
    num_envs: int
    num_steps: int
    num_minibatches: int
    updates: int
    variant: str = ""  # the --set overrides of the preset, if any

    @property
    def env_steps(self) -> int:
        """Environment steps of one call: S x N x T x K."""
        return self.num_seeds * self.num_envs * self.num_steps * self.updates


@dataclasses.dataclass(frozen=True)
class Timing:
    """One program measured at one point."""

    first_call_s: float  # lower + compile + first run
    lower_compile_s: float  # lower + compile alone
    run_s: float  # fastest warm call
    peak_bytes: int | None
    xla_bytes: int | None  # XLA's memory analysis of the compiled program
    memory_source: str
    start_bytes: int | None = None  # memory in use when the program's measurement began

    @property
    def compile_s(self) -> float:
        """Tracing and compilation: the first call less a warm call."""
        return max(self.first_call_s - self.run_s, 0.0)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Training and rollout-only timings of one point."""

    point: Point
    train: Timing
    rollout: Timing

    def steps_per_s(self, timing: Timing) -> float:
        """Environment steps per second of a warm call of ``timing``'s program."""
        return self.point.env_steps / timing.run_s

    @property
    def ratio(self) -> float:
        """Training steps/s over rollout-only steps/s: the share of time spent rolling out."""
        return self.rollout.run_s / self.train.run_s


# --- configuration -------------------------------------------------------------------------


def updates_per_call(
    num_seeds: int, num_envs: int, num_steps: int, args: argparse.Namespace
) -> int:
    """K: ``--updates``, or about ``--steps-per-call`` env steps' worth, clipped."""
    if args.updates:
        return args.updates
    low, high = UPDATE_LIMITS
    return min(max(round(args.steps_per_call / (num_seeds * num_envs * num_steps)), low), high)


def rollout_signature(
    config: ml_collections.ConfigDict, algorithm: Algorithm, point: Point
) -> tuple:
    """What the rollout-only program depends on; equal signatures share one measurement.

    The environment is the one the algorithm acts in, by name (a wrapper names itself after what
    it wraps, e.g. ``CostAugmented(IcyLake-v1)``); constants inside it that do not change the
    program's work, such as the cost scale of the augmented state, are left out.
    """
    algo = config.algo
    return (
        algorithm.env.name,
        json.dumps(config.env.kwargs.to_dict(), sort_keys=True),
        point.num_seeds,
        point.num_envs,
        point.num_steps,
        point.updates,
        tuple(algo.hidden_sizes),
        algo.initial_log_std,
        algo.normalize_observations,
        algo.discount,
        algo.cost_discount,
    )


# --- programs ------------------------------------------------------------------------------


# --- memory --------------------------------------------------------------------------------


def reset_peak_memory() -> bool:
    """Resets the process's peak RSS (Linux ``clear_refs`` 5); whether that worked."""
    if jax.devices()[0].memory_stats() is not None:
        return False
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def memory_in_use() -> int | None:
    """Bytes in use now: on the device if it reports them, else the process's RSS (Linux)."""
    stats = jax.devices()[0].memory_stats()
    if stats is not None:
        return stats.get("bytes_in_use")
    try:
        status = PROC_STATUS.read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:")), None)


def peak_memory(was_reset: bool) -> tuple[int | None, str]:
    """The peak memory in bytes and its source (a key of :data:`MEMORY_SOURCES`)."""
    stats = jax.devices()[0].memory_stats()
    if stats is not None:
        return stats.get("peak_bytes_in_use"), "device"
    if was_reset:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024, "rss_point"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "rss_process"


def xla_bytes(compiled: Any) -> int | None:
    """XLA's size of a compiled program's buffers: arguments + outputs + temporaries - aliases."""
    try:
        analysis = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if analysis is None:
        return None
    return (
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        + analysis.temp_size_in_bytes
        - analysis.alias_size_in_bytes
    )


# --- timing --------------------------------------------------------------------------------


def time_program(program: Callable, states: State, repeats: int, fixed: tuple = ()) -> Timing:
    """Compiles and calls ``program(*fixed, states)`` once, then ``repeats`` more times, each
    continuing from the states (the first output) the previous call returned."""
    was_reset = reset_peak_memory()
    start_bytes = memory_in_use()
    start = time.perf_counter()
    compiled = program.lower(*fixed, states).compile()
    lower_compile_s = time.perf_counter() - start
    states, _ = jax.block_until_ready(compiled(*fixed, states))
    first_call_s = time.perf_counter() - start
    run_s = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        states, _ = jax.block_until_ready(compiled(*fixed, states))
        run_s = min(run_s, time.perf_counter() - start)
    peak, source = peak_memory(was_reset)
    return Timing(
        first_call_s, lower_compile_s, run_s, peak, xla_bytes(compiled), source, start_bytes
    )


def measure_algo_env(
    algo: str, env: str, args: argparse.Namespace, rollouts: dict[tuple, Timing]
) -> Iterator[Measurement]:
    """Every (S, N) point of ``algo`` on ``env``; rollout timings are looked up in ``rollouts``
    (and stored there) by :func:`rollout_signature`."""
    for num_envs in args.num_envs:
        config = point_config(algo, env, num_envs, args)
        algorithm = make_algorithm(config)
        for num_seeds in args.num_seeds:
            point = Point(
                algo,
                env,
                num_seeds,
                num_envs,
                config.algo.num_steps,
                config.algo.num_minibatches,
                updates_per_call(num_seeds, num_envs, config.algo.num_steps, args),
                variant_label(args),
            )
            states = initial_states(algorithm, num_seeds, args.seed)
            signature = rollout_signature(config, algorithm, point)
            if signature not in rollouts:
                program = rollout_program(config, algorithm, point.updates)
                carries = rollout_carries(config, algorithm, states, args.seed)
                rollouts[signature] = time_program(program, carries, args.repeats, (states,))
            train = time_program(train_program(algorithm, point.updates), states, args.repeats)
            yield Measurement(point, train, rollouts[signature])


# --- report --------------------------------------------------------------------------------


def _mib(value: int | None, digits: int = 0) -> str:
    """Bytes as MiB, blank if unknown."""
    return "" if value is None else f"{value / MIB:,.{digits}f}"


def _row(m: Measurement, over_sequential: float | None) -> str:
    """One markdown table row."""
    p = m.point
    speedup = "" if over_sequential is None else f"{over_sequential:.2f}"
    return (
        f"| {algo_label(p)} | {p.env} | {p.num_seeds} | {p.num_envs} | {p.num_steps} | "
        f"{p.num_minibatches} | {p.updates} | {m.steps_per_s(m.train):,.0f} | {speedup} | "
        f"{m.steps_per_s(m.rollout):,.0f} | {m.ratio:.2f} | {m.train.compile_s:.1f} | "
        f"{m.rollout.compile_s:.1f} | {_mib(m.train.peak_bytes)} | {_mib(m.rollout.peak_bytes)} | "
        f"{_mib(m.train.xla_bytes, 1)} |"
    )


def _memory_label(measurements: Sequence[Measurement]) -> str:
    """The peak-memory column's unit and source."""
    sources = {t.memory_source for m in measurements for t in (m.train, m.rollout)}
    names = {"device": "device", "rss_point": "RSS", "rss_process": "process RSS"}
    return "peak MiB " + "/".join(sorted(names[s] for s in sources))


def markdown_table(measurements: Sequence[Measurement]) -> str:
    """The results table, by environment, algorithm, N and S."""
    rows = sorted(
        measurements,
        key=lambda m: (
            m.point.env,
            m.point.algo,
            m.point.variant,
            m.point.num_envs,
            m.point.num_seeds,
        ),
    )
    memory = _memory_label(rows)
    lines = [
        "| algo | env | S | N | T | MB | K | train steps/s | × S sequential | rollout steps/s | "
        f"train/rollout | train compile s | rollout compile s | {memory} train | "
        f"{memory} rollout | XLA MiB train |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines.extend(_row(m, _over_sequential(m, rows)) for m in rows)
    return "\n".join(lines)


def _over_sequential(m: Measurement, measurements: Sequence[Measurement]) -> float | None:
    """How much faster ``S`` vmapped seeds train than ``S`` runs of one seed one after another
    (the same total steps): the S-seed point's train steps/s over the 1-seed point's at the
    same algorithm, environment, overrides and batch; ``None`` without that 1-seed point."""
    p = m.point
    for single in measurements:
        q = single.point
        if q.num_seeds == 1 and (q.algo, q.env, q.variant, q.num_envs, q.num_steps) == (
            p.algo,
            p.env,
            p.variant,
            p.num_envs,
            p.num_steps,
        ):
            return m.steps_per_s(m.train) / single.steps_per_s(single.train)
    return None


def _to_json(m: Measurement) -> dict[str, Any]:
    """A measurement's raw numbers and the derived ones."""
    timings = {
        name: {**dataclasses.asdict(t), "compile_s": t.compile_s, "steps_per_s": m.steps_per_s(t)}
        for name, t in (("train", m.train), ("rollout", m.rollout))
    }
    return {
        **dataclasses.asdict(m.point),
        "env_steps_per_call": m.point.env_steps,
        **timings,
        "train_over_rollout": m.ratio,
        "learning_s_per_update": (m.train.run_s - m.rollout.run_s) / m.point.updates,
    }


def _from_json(raw: dict[str, Any]) -> Measurement:
    """The inverse of :func:`_to_json`."""

    def fields(cls: type, values: dict[str, Any]) -> dict[str, Any]:
        return {f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}

    return Measurement(
        Point(**fields(Point, raw)),
        Timing(**fields(Timing, raw["train"])),
        Timing(**fields(Timing, raw["rollout"])),
    )


def run_notes(args: argparse.Namespace, measurements: Sequence[Measurement]) -> list[str]:
    """How to read the table."""
    sources = sorted({t.memory_source for m in measurements for t in (m.train, m.rollout)})
    return [
        "S: seeds (vmapped); N: environments per seed; T: rollout length; MB: minibatches per "
        "epoch; K: updates per timed call. A call runs S x N x T x K environment steps.",
        "train steps/s: environment steps per second of the fastest warm call of K full updates "
        "(rollout, critics and GAE, penalty, epochs of minibatch steps, normaliser).",
        "× S sequential: train steps/s of the S vmapped seeds over that of one seed at the same "
        "algorithm, environment and batch: how much faster S seeds train as one program than as "
        "S runs of one seed after another (the same total steps, compilation apart).",
        "rollout steps/s: the same rollouts alone, with the algorithm's behaviour policy (the "
        "ceiling). train/rollout: their ratio, the share of a training call spent rolling out.",
        "compile s: first call (lower + compile + run) less the fastest warm call.",
        *(f"peak MiB: {MEMORY_SOURCES[s]}; includes compilation." for s in sources),
        "The memory in use when each program's measurement began is in the JSON (start_bytes).",
        "XLA MiB train: arguments + outputs + temporaries of the compiled train program.",
        "Epochs and the rest of each algorithm's hyper-parameters are its env preset's "
        "(jaxsafe.config.ENV_PRESETS), except the --set overrides a row names in its algo "
        "column; MB is the preset's, lowered only if it does not divide N x T.",
        *([TRUST_REGION_NOTE] if any(has_phases(m.point.algo) for m in measurements) else []),
        *args.note,
    ]


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line flags; ``--quick`` overrides N, S, K and repeats for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    parser.add_argument(
        "--envs", nargs="+", default=list(DEFAULT_ENVS), choices=jaxsafe_envs.registered()
    )
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--num-seeds", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--num-steps", type=int, help="rollout length T (default: env preset)")
    parser.add_argument(
        "--num-minibatches", type=int, help="minibatches per epoch (default: preset, fitted)"
    )
    parser.add_argument("--updates", type=int, help="updates K per timed call (default: scaled)")
    parser.add_argument(
        "--steps-per-call",
        type=int,
        default=2**16,
        help="env steps per timed call that K aims at when --updates is not given",
    )
    parser.add_argument("--backend", help="brax backend of the brax tasks (default: the env's)")
    add_override_flag(parser)
    reporting.add_report_flags(parser)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: N=16, S=1, K=1, one warm call"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.num_envs, args.num_seeds, args.updates, args.repeats = [16], [1], 1, 1
    args.report_path = reporting.report_path(parser, args, RESULTS_STEM)
    return args


def run(args: argparse.Namespace) -> tuple[list[Measurement], list[str]]:
    """Measures every selected point; returns the results and notes on what failed."""
    measurements: list[Measurement] = []
    skipped: list[str] = []
    rollouts: dict[tuple, Timing] = {}
    for env in args.envs:
        for algo in args.algos:
            try:
                for m in measure_algo_env(algo, env, args, rollouts):
                    measurements.append(m)
                    print(_row(m, _over_sequential(m, measurements)), flush=True)
            except OverrideError:
                raise
            except Exception as error:  # a failing combination is reported and skipped
                first_line = (str(error).splitlines() or [""])[0]
                skipped.append(f"{algo} on {env} skipped: {type(error).__name__}: {first_line}")
                print(skipped[-1], flush=True)
    return measurements, skipped


def _key(m: Measurement) -> tuple[str, str, str, int, int, int]:
    """What a measurement is of: a later measurement of the same point replaces it."""
    p = m.point
    return (p.algo, p.variant, p.env, p.num_seeds, p.num_envs, p.num_steps)


def main(argv: Sequence[str]) -> None:
    """Runs the selected measurements, merges them if asked, prints and writes the report."""
    args = parse_args(argv)
    cache = reporting.CompilationCache(args.compilation_cache)
    warnings.filterwarnings("ignore", message="Brax System, piplines and environments")
    path = args.report_path
    rows, notes, commands = reporting.load_report(path) if args.append else ([], [], [])
    new_measurements, skipped = run(args)
    merged = list({_key(m): m for m in [*map(_from_json, rows), *new_measurements]}.values())
    command = reporting.command_line(__file__, argv)
    notes = list(dict.fromkeys([*notes, *run_notes(args, merged), *skipped, *cache.notes(command)]))
    commands = [*commands, command]
    table = markdown_table(merged)
    reporting.publish(
        path,
        "Training throughput",
        report_header(),
        commands,
        table,
        notes,
        [_to_json(m) for m in merged],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
