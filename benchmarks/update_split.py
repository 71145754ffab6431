"""Where one training update spends its time: the update split into its phases, each timed alone.

For each algorithm x environment x seeds ``S`` x environments per seed ``N`` the run builds the
algorithm as ``train_throughput.py`` does (the environment's preset, ``--set`` overrides,
``algo.num_envs = N``, the minibatches fitted to ``N x T``) and brings ``S`` states
(``jax.vmap(algorithm.init)``) to a realistic point with ``--warmup-updates`` full updates.
From that state ``s`` it times, each as its own ``jax.jit(jax.vmap(...))`` program, compiled
separately:

- update: one full ``algorithm.update(s)``;
- for the algorithms on the on-policy frame (trpo_lag, cpo, varcpo, cppo, csc: their modules'
  ``make_frame``), the frame's four phases (:mod:`jaxsafe.algorithms.on_policy`), on fixed
  inputs made once from ``s``: ``collect(s) -> (s', rollout)`` (rollout),
  ``prepare(s', rollout) -> prepared``
  (advantages: every critic's values, GAE per stream and the episode-level estimates),
  ``policy_update(s', prepared)`` (CG + line search: the constraint's linearisation, the g and b
  gradients, CG on Fisher-vector products, the CPO dual and the backtracking line
  search) and ``fit_critics(s', prepared)`` (critics: epochs of minibatch steps on every
  critic); for cppo the policy step is also timed in its two parts, on the same inputs (the
  module's ``policy_phases``): the E-step (Ĵ_C, the mode and the ratio targets at every radius)
  and the M-step (the Adam steps on the tracking loss, from the E-step's output); csc (its
  module's ``frame_phases``) collects by rejection sampling through Q_C instead of the frame's
  ``collect`` and adds a fifth phase, the safety critic (the batch into the replay ring and
  Q_C's Adam steps on ring minibatches), counted in the phases' sum. ``update``
  runs the four phases in that order, then updates the observation normaliser, which is
  not timed on its own: it is in "other", the update less the sum of the phases (which also
  absorbs what XLA saves by fusing across phase boundaries, or loses by not, and noise);
- for the PPO family (ppo, ppo_lag, cvar_ppo), whose joint epochs are not split into phases,
  the rollout alone (``harness.rollout_program`` with one update: ``rollout.collect`` with the
  algorithm's public policy); "update − rollout" is then GAE + values, the penalty and the
  epochs of minibatch steps together.

Timing: every program is lowered and compiled (timed: "compile s") and called at least once;
then ``--repeats`` rounds call each program once in turn, all on the same inputs, and each
program's fastest call counts. Interleaving the rounds spreads load from other processes over
all the programs rather than over whichever ran while it lasted. Every call is waited on with
``jax.block_until_ready``.

Usage::

    python benchmarks/update_split.py [--algos ppo cpo varcpo] [--envs IcyLake-v1 PointCircle-v1]
        [--num-envs 256] [--num-seeds 1] [--num-steps T] [--num-minibatches M]
        [--warmup-updates 3] [--set KEY=VALUE ...] [--repeats 5] [--output PATH] [--append]
        [--note TEXT]

The table goes to stdout; ``--output PATH`` writes it to PATH and the raw numbers to the ``.json``
beside it, and ``--append`` merges into that report (by default the committed
``benchmarks/results/update_split_<device-kind>.md``). Without either nothing is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import harness
import jax
import ml_collections
import reporting

import jaxsafe_envs
from jaxsafe.algorithms import ALGORITHMS, Algorithm, on_policy
from jaxsafe.config import validate
from jaxsafe.train import make_algorithm

RESULTS_STEM = "update_split"
DEFAULT_ALGOS = ("ppo", "cpo", "varcpo")
DEFAULT_ENVS = ("IcyLake-v1", "PointCircle-v1")

UPDATE = "update"
ROLLOUT = "rollout"
PHASES = (ROLLOUT, "advantages", "policy_step", "critics")
"""The frame's phases in the order ``update`` runs them (rollout is ``collect``)."""
OPTIONAL_PHASES = ("safety_critic",)
"""Phases only some algorithms have (csc's Q_C fit), in the phases' sum where timed."""
POLICY_PARTS = ("e_step", "m_step")
"""The parts of cppo's policy step, timed apart as well (not added to the phases' sum)."""
COLUMNS = PHASES + OPTIONAL_PHASES + POLICY_PARTS
"""The timed programs' columns, after the full update's."""
PHASE_TITLES = {
    ROLLOUT: "rollout",
    "advantages": "advantages",
    "policy_step": "policy step",
    "critics": "critics",
    "safety_critic": "safety critic",
    "e_step": "E-step",
    "m_step": "M-step",
}


@dataclasses.dataclass(frozen=True)
class Point:
    """One configuration."""

    algo: str
    env: str
    num_seeds: int
    num_envs: int
    num_steps: int
    num_minibatches: int
    warmup_updates: int
    variant: str = ""  # the --set overrides of the preset, if any

    @property
    def env_steps(self) -> int:
        """Environment steps of one update of every seed: S x N x T."""
        return self.num_seeds * self.num_envs * self.num_steps


@dataclasses.dataclass(frozen=True)
class Timing:
    """One program: lowering and compiling, and its fastest call."""

    compile_s: float
    run_s: float


@dataclasses.dataclass(frozen=True)
class Split:
    """The timings of one point: ``update``, ``rollout`` and, for the trust-region family, the
    other phases."""

    point: Point
    timings: dict[str, Timing]

    def run_s(self, name: str) -> float | None:
        timing = self.timings.get(name)
        return None if timing is None else timing.run_s

    @property
    def phases_s(self) -> float | None:
        """The sum of the phases' times, if every phase was timed."""
        if not all(name in self.timings for name in PHASES):
            return None
        timed = PHASES + tuple(name for name in OPTIONAL_PHASES if name in self.timings)
        return sum(self.timings[name].run_s for name in timed)

    @property
    def learning_s(self) -> float:
        """The update less its rollout."""
        return self.timings[UPDATE].run_s - self.timings[ROLLOUT].run_s


# --- programs ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    """A compiled program, the arguments it is timed on and how long compiling it took."""

    compiled: Callable[..., Any]
    arguments: tuple[Any, ...]
    compile_s: float

    def __call__(self) -> Any:
        return jax.block_until_ready(self.compiled(*self.arguments))


def compile_call(function: Callable[..., Any], *arguments: Any) -> Call:
    """``jax.jit(jax.vmap(function))`` lowered and compiled (timed) for ``arguments``."""
    start = time.perf_counter()
    compiled = jax.jit(jax.vmap(function)).lower(*arguments).compile()
    return Call(compiled, arguments, time.perf_counter() - start)


def warm_update(algorithm: Algorithm, num_seeds: int, args: argparse.Namespace) -> Call:
    """The full update, on ``S`` states after ``--warmup-updates`` of it."""
    states = harness.initial_states(algorithm, num_seeds, args.seed)
    update = compile_call(algorithm.update, states)
    for _ in range(args.warmup_updates):
        states, _ = update.compiled(states)
    return dataclasses.replace(update, arguments=(jax.block_until_ready(states),))


def frame_calls(
    config: ml_collections.ConfigDict, num_seeds: int, args: argparse.Namespace
) -> dict[str, Call]:
    """The full update and the on-policy frame's four phases, each on realistic fixed inputs."""
    env, env_params = jaxsafe_envs.make(config.env.name, **config.env.kwargs)
    algorithm, frame = ALGORITHMS[config.algo.name].make_frame(config, env, env_params)
    update = warm_update(algorithm, num_seeds, args)
    frame_phases = getattr(ALGORITHMS[config.algo.name], "frame_phases", None)
    replaced = frame_phases(frame) if frame_phases is not None else {}
    collect = compile_call(
        replaced.get(ROLLOUT, functools.partial(on_policy.collect, frame)), *update.arguments
    )
    collected, batch = collect()
    prepare = compile_call(functools.partial(on_policy.prepare, frame), collected, batch)
    prepared = prepare()
    calls = {
        UPDATE: update,
        ROLLOUT: collect,
        "advantages": prepare,
        "policy_step": compile_call(
            functools.partial(on_policy.policy_update, frame), collected, prepared
        ),
        "critics": compile_call(
            functools.partial(on_policy.fit_critics, frame), collected, prepared
        ),
    }
    if "safety_critic" in replaced:
        calls["safety_critic"] = compile_call(replaced["safety_critic"], collected, batch)
    policy_phases = getattr(ALGORITHMS[config.algo.name], "policy_phases", None)
    if policy_phases is not None:
        parts = policy_phases(frame)
        calls["e_step"] = compile_call(parts["e_step"], collected, prepared)
        expected = calls["e_step"]()
        calls["m_step"] = compile_call(parts["m_step"], collected, prepared, expected)
    return calls


def rollout_calls(
    config: ml_collections.ConfigDict, num_seeds: int, args: argparse.Namespace
) -> dict[str, Call]:
    """The full update and the rollout alone (an algorithm without the frame's phases)."""
    algorithm = make_algorithm(config)
    update = warm_update(algorithm, num_seeds, args)
    rollout = harness.rollout_program(config, algorithm, 1)  # jitted and vmapped
    (states,) = update.arguments
    arguments = (states, harness.rollout_carries(config, algorithm, states, args.seed))
    start = time.perf_counter()
    compiled = rollout.lower(*arguments).compile()
    return {
        UPDATE: update,
        ROLLOUT: Call(compiled, arguments, time.perf_counter() - start),
    }


def time_calls(calls: dict[str, Call], repeats: int) -> dict[str, Timing]:
    """Calls each program once to warm it, then ``repeats`` interleaved rounds of one call each;
    the fastest call of each program counts."""
    for call in calls.values():
        call()
    run_s = dict.fromkeys(calls, math.inf)
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            run_s[name] = min(run_s[name], time.perf_counter() - start)
    return {name: Timing(call.compile_s, run_s[name]) for name, call in calls.items()}


def measure(algo: str, env: str, num_envs: int, num_seeds: int, args: argparse.Namespace) -> Split:
    """The split of one point."""
    config = harness.point_config(algo, env, num_envs, args)
    validate(config)
    point = Point(
        algo,
        env,
        num_seeds,
        num_envs,
        config.algo.num_steps,
        config.algo.num_minibatches,
        args.warmup_updates,
        harness.variant_label(args),
    )
    family = frame_calls if harness.has_phases(algo) else rollout_calls
    return Split(point, time_calls(family(config, num_seeds, args), args.repeats))


# --- report --------------------------------------------------------------------------------


def _ms(split: Split, seconds: float | None) -> str:
    """Milliseconds and the share of the full update, blank if not measured."""
    if seconds is None:
        return ""
    share = seconds / split.run_s(UPDATE)
    return f"{seconds * 1e3:,.1f} ({share:.0%})"


def _row(split: Split) -> str:
    """One markdown table row."""
    p, update_s, phases_s = split.point, split.run_s(UPDATE), split.phases_s
    other = "" if phases_s is None else f"{(update_s - phases_s) * 1e3:,.1f}"
    phase_compile = sum(t.compile_s for name, t in split.timings.items() if name != UPDATE)
    return (
        f"| {harness.algo_label(p)} | {p.env} | {p.num_seeds} | {p.num_envs} | "
        f"{p.num_steps} | {p.num_minibatches} | {update_s * 1e3:,.1f} | "
        f"{p.env_steps / update_s:,.0f} | "
        + " | ".join(_ms(split, split.run_s(name)) for name in COLUMNS)
        + f" | {_ms(split, phases_s)} | {other} | {_ms(split, split.learning_s)} | "
        f"{split.timings[UPDATE].compile_s:.1f} | {phase_compile:.1f} |"
    )


def markdown_table(splits: Sequence[Split]) -> str:
    """The results table, by environment, algorithm, N and S."""
    rows = sorted(
        splits,
        key=lambda s: (
            s.point.env,
            s.point.algo,
            s.point.variant,
            s.point.num_envs,
            s.point.num_seeds,
        ),
    )
    phase_columns = " | ".join(f"{PHASE_TITLES[name]} ms" for name in COLUMNS)
    lines = [
        f"| algo | env | S | N | T | MB | update ms | update steps/s | {phase_columns} | "
        "phases sum ms | other ms | update − rollout ms | compile s update | "
        "compile s phases |",
        "|---|---|---:|---:|---:|---:|" + "---:|" * (len(COLUMNS) + 7),
    ]
    lines.extend(_row(split) for split in rows)
    return "\n".join(lines)


def _to_json(split: Split) -> dict[str, Any]:
    """A split's raw numbers and the derived ones."""
    return {
        **dataclasses.asdict(split.point),
        "env_steps_per_update": split.point.env_steps,
        "timings": {name: dataclasses.asdict(t) for name, t in split.timings.items()},
        "phases_s": split.phases_s,
        "update_minus_rollout_s": split.learning_s,
        "update_steps_per_s": split.point.env_steps / split.run_s(UPDATE),
    }


def _from_json(raw: dict[str, Any]) -> Split:
    """The inverse of :func:`_to_json`."""
    point = Point(**{f.name: raw[f.name] for f in dataclasses.fields(Point) if f.name in raw})
    return Split(point, {name: Timing(**t) for name, t in raw["timings"].items()})


def run_notes(args: argparse.Namespace) -> list[str]:
    """How to read the table."""
    return [
        "S: seeds (vmapped); N: environments per seed; T: rollout length; MB: minibatches per "
        "epoch (the critics' for cpo/trpo_lag/varcpo). One update runs S x N x T environment "
        "steps. Hyper-parameters are the env preset's (jaxsafe.config.ENV_PRESETS), except the "
        "--set overrides a row names in its algo column.",
        "Every program runs on a state after a few warm-up updates (warmup_updates in the JSON) "
        "and is its own jax.jit(jax.vmap(...)), compiled separately; times are the fastest of "
        "interleaved rounds of warm calls. ms (%): milliseconds and share of the full update.",
        "rollout: collect (the trust-region family's phase 1; for PPO the rollout-only program of "
        "train_throughput.py). advantages: prepare (every critic's values at s and s', GAE per "
        "stream, episode-level estimates). policy step: policy_step (trust-region family: "
        "linearisation, g and b, CG on Fisher-vector products, CPO dual, backtracking line search; "
        "cppo: E-step and M-step). critics: fit_critics (epochs of minibatch steps on every "
        "critic). safety critic: csc's Q_C fit (ring insert, Adam steps on ring minibatches; "
        "csc's rollout is its rejection-sampled collect). E-step, M-step: cppo's policy step in "
        "its two parts, each its own program (not in the phases' sum).",
        "phases sum: the four phases' times added; other: the full update less that sum (the "
        "normaliser update, fusion across phase boundaries the separate programs miss, noise).",
        "ppo's update exposes no phases: only the full update and its rollout are timed; "
        "update − rollout is its GAE + values and epochs of minibatch steps on policy and "
        "critics.",
        "compile s: lowering + compiling; phases: the phase programs' added.",
        *args.note,
    ]


# --- command line --------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(DEFAULT_ALGOS), choices=list(ALGORITHMS))
    parser.add_argument(
        "--envs", nargs="+", default=list(DEFAULT_ENVS), choices=jaxsafe_envs.registered()
    )
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256])
    parser.add_argument("--num-seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--num-steps", type=int, help="rollout length T (default: env preset)")
    parser.add_argument(
        "--num-minibatches", type=int, help="minibatches per epoch (default: preset, fitted)"
    )
    parser.add_argument(
        "--warmup-updates", type=int, default=3, help="full updates before the timed state"
    )
    parser.add_argument("--backend", help="brax backend of the brax tasks (default: the env's)")
    harness.add_override_flag(parser)
    reporting.add_report_flags(parser)
    parser.set_defaults(repeats=5)
    args = parser.parse_args(argv)
    args.report_path = reporting.report_path(parser, args, RESULTS_STEM)
    return args


def _key(split: Split) -> tuple[str, str, str, int, int, int]:
    """What a split is of: a later split of the same point replaces it."""
    p = split.point
    return (p.algo, p.variant, p.env, p.num_seeds, p.num_envs, p.num_steps)


def main(argv: Sequence[str]) -> None:
    """Measures every selected point, merges them if asked, prints and writes the report."""
    args = parse_args(argv)
    cache = reporting.CompilationCache(args.compilation_cache)
    warnings.filterwarnings("ignore", message="Brax System, piplines and environments")
    path = args.report_path
    rows, notes, commands = reporting.load_report(path) if args.append else ([], [], [])
    splits: list[Split] = []
    for env in args.envs:
        for algo in args.algos:
            for num_envs in args.num_envs:
                for num_seeds in args.num_seeds:
                    splits.append(measure(algo, env, num_envs, num_seeds, args))
                    print(_row(splits[-1]), flush=True)
    merged = list({_key(s): s for s in [*map(_from_json, rows), *splits]}.values())
    command = reporting.command_line(__file__, argv)
    notes = list(dict.fromkeys([*notes, *run_notes(args), *cache.notes(command)]))
    commands = [*commands, command]
    table = markdown_table(merged)
    reporting.publish(
        path,
        "Update split",
        harness.report_header(),
        commands,
        table,
        notes,
        [_to_json(s) for s in merged],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
