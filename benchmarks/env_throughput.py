"""Environment throughput: steps per second of every registered environment (--safenax: against
safenax, the optional extra ``pip install -e '.[safenax]'``).

Each measurement runs ``jax.jit`` of a ``lax.scan`` over ``num_steps`` steps of
``jax.vmap(env.step)`` on ``num_envs`` environments, with uniformly random actions drawn inside
the scan from the environment's action space. Every step's observation, reward and cost are
folded into a checksum so that no part of the step can be optimised away.

Timing: the first call is timed including tracing and compilation; the rollout is then called
again (``--repeats`` times) on fresh inputs, the state the previous call ended in and a new key,
and the fastest of those calls gives the run time. Compile time is reported as the first call
minus the run time. Every call is waited on with ``jax.block_until_ready``. The implementations
compared at one N take their warm calls in rounds, one call each, in an order that reverses from
round to round (ours, reference; reference, ours; ...), so that a change of load on a shared
machine falls on all of them alike.

Paired ratio. Round k gives one ratio r_k = t_ref,k / t_ours,k of our call's and the reference's
warm-call times (> 1: ours is faster), and the table reports the median of the r_k with its
distribution-free 95% confidence interval [r_(j), r_(n+1−j)] from the order statistics of the n
rounds, j the largest index with P(Binomial(n, ½) < j) ≤ 2.5% (see :func:`median_interval`).
Pairing by round cancels load that drifts over seconds; the interval says where the median ratio
lies, assuming independent rounds (load that drifts slowly correlates them and makes the interval
too narrow), where the best-of ratio of two fastest calls is a single draw of a noisy extreme.
Only rows timed in the same rounds are paired: each call of :func:`measure` stamps its rows with
one ``rounds_id``.

The brax tasks (EcoAnt, AntCircle) are measured on each brax backend. With ``--safenax``,
reference rows measure the ``safenax`` package identically (the optional extra: ``pip install -e
'.[safenax]'``; without the flag only our environments are measured and safenax is never
imported): ``EcoAntV2`` behind ``safenax.wrappers.brax.BraxToGymnaxWrapper`` (1000-step
episodes) on the same backend, and ``FrozenLakeV2`` (4x4, not slippery). Each of our rows that
has a reference shows the ratio of its steps per second to the reference's
(> 1: ours is faster).

Navigation tasks (``--envs navigation``: ``NAVIGATION_ENVS``) are measured like every other
light environment. ``--envs`` takes registered names with keyword options, ``NAME:key=value,...``
(``PointGoal-v1:level=2``), so a task at two settings is two families. With
``--safety-gymnasium`` the same run also times Safety-Gymnasium's ``SafetyPointGoal1-v0`` and
``SafetyPointGoal2-v0`` (MuJoCo, on the host) as vector environments: ``sync`` (every env in one
process), ``async`` (Safety-Gymnasium's async vector env, one process per env) and ``pool``
(``--sg-workers`` processes, each stepping its share of the N envs, in lockstep every step).
Safety-Gymnasium 1.0.0 pins gymnasium 0.28.1 against our ≥ 1.0 and does not import on Python
3.11, so it runs in its own virtual environment (``benchmarks/requirements-safety-gymnasium.txt``,
Python 3.10; ``--sg-python``) through ``benchmarks/safety_gymnasium_worker.py``, driven over a pipe:
each call is K vector steps with uniformly random actions drawn inside the timed loop, timed in
the worker. The modes at one N are timed in the same rounds, so their paired ratios say which is
faster; "compile s" of those rows is the worker's start (import, building the N MuJoCo envs).

Our brax tasks auto-reset from a pool of pre-drawn brax initial states by default
(``jaxsafe_envs.brax_task``). With ``--exact-resets`` each brax group also measures the task with
``reset_pool_size=0`` (brax's reset computed on every step, the pre-pool behaviour), in turn
with the default and the reference, as the ``jaxsafe-exact`` rows.

Usage::

    python benchmarks/env_throughput.py [--num-envs 1 64 1024 4096] [--steps T]
        [--backends generalized positional spring mjx] [--envs EcoAnt-v2 IcyLake-v1] [--quick]
        [--exact-resets] [--safenax] [--output PATH] [--append] [--note TEXT]
        [--envs navigation] [--safety-gymnasium [ID ...]] [--sg-python PATH]
        [--sg-num-envs 1 2 16] [--sg-modes sync async pool] [--sg-workers 2]

The table goes to stdout; ``--output PATH`` writes it to PATH and the raw numbers to the ``.json``
beside it. With ``--append`` a run merges into that report (by default the committed
``benchmarks/results/env_throughput_<device-kind>.md``), so a sweep too long for one sitting can
be measured in parts (different N per backend, say). Without either nothing is written, and
``--quick`` never writes into ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import reporting

import jaxsafe_envs
from jaxsafe_envs.brax_task import DEFAULT_RESET_POOL_SIZE

BRAX_ENVS = frozenset({"AntCircle-v1", "EcoAnt-v1", "EcoAnt-v2"})
BRAX_BACKENDS = ("generalized", "positional", "spring", "mjx")
NO_BACKEND = "-"
EXACT_RESETS = {"reset_pool_size": 0}
"""Keywords of our brax tasks' exact auto-reset: brax's reset on every step, no pool."""
REFERENCES = {"EcoAnt-v2": "EcoAntV2", "IcyLake-v1": "FrozenLakeV2"}
"""safenax counterpart of each of our environments that has one (measured with ``--safenax``)."""
SAFENAX_INSTALL = "pip install -e '.[safenax]'"
"""How to install the optional extra that ``--safenax`` needs."""

NAVIGATION_ENVS = (
    "PointGoal-v1:level=1",
    "PointGoal-v1:level=2",
    "PointTrap-v1",
    "PointHazards-v1",
)
"""What ``--envs navigation`` measures; a task at other settings is ``"NAME:key=value"``."""

SAFETY_GYMNASIUM_ENVS = ("SafetyPointGoal1-v0", "SafetyPointGoal2-v0")
"""What ``--safety-gymnasium`` with no ids measures."""
SG_MODES = ("sync", "async", "pool")
SG_IMPLEMENTATION = "safety-gymnasium"
SG_WORKER = Path(__file__).resolve().parent / "safety_gymnasium_worker.py"
SG_PYTHON_VARIABLE = "SAFETY_GYMNASIUM_PYTHON"

ENV_STEPS_PER_RUN = {"brax": 8_192, "light": 16_777_216, "host": 2_048}
"""Environment steps (num_envs x num_steps) per timed call, by kind of environment."""

STEP_LIMITS = {"brax": (4, 512), "light": (1_024, 262_144), "host": (16, 2_048)}
"""Fewest and most scan steps per timed call, by kind of environment."""

RESULTS_STEM = "env_throughput"
MIN_PAIRED_ROUNDS = 6
"""Fewest rounds of warm calls that give a 95% interval for the median paired ratio."""

State = Any
StepFn = Callable[[jax.Array, State, jax.Array], tuple[State, jax.Array]]


@dataclasses.dataclass(frozen=True)
class Subject:
    """One environment implementation, reduced to what a rollout needs.

    ``family`` is our registered name the row belongs to; ``step`` returns the next state and
    a per-environment scalar that depends on the step's observation, reward and cost.
    """

    family: str
    implementation: str  # "jaxsafe", "jaxsafe-exact" (reset_pool_size=0) or "safenax"
    backend: str
    reset: Callable[[jax.Array], State]
    step: StepFn
    sample_action: Callable[[jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Timings of one subject at one batch size, and the jax version they were taken with
    (``None`` if not recorded)."""

    family: str
    implementation: str
    backend: str
    num_envs: int
    num_steps: int
    first_call_s: float
    run_s: float
    jax_version: str | None = None
    warm_s: tuple[float, ...] = ()  # every warm call, in round order (empty in older rows)
    rounds_id: str = ""  # shared by the rows timed in the same rounds (empty in older rows)

    @property
    def label(self) -> str:
        """The env column: our name, or the safenax class it is compared with."""
        if self.implementation == "jaxsafe":
            return self.family
        if self.implementation == "jaxsafe-exact":
            return f"{self.family} (reset_pool_size=0)"
        if self.implementation == SG_IMPLEMENTATION:
            return f"Safety-Gymnasium {self.family}"
        return f"safenax {REFERENCES[self.family]}"

    @property
    def compile_s(self) -> float:
        """Tracing and compilation: the first call less a warm call."""
        return max(self.first_call_s - self.run_s, 0.0)

    @property
    def steps_per_s(self) -> float:
        """Environment steps per second of a warm call, summed over the batch."""
        return self.num_envs * self.num_steps / self.run_s


def _signal(obs: jax.Array, reward: jax.Array, cost: jax.Array) -> jax.Array:
    """A scalar that depends on every output a learner consumes."""
    return jnp.sum(obs, dtype=jnp.float32) + reward.astype(jnp.float32) + cost


@dataclasses.dataclass(frozen=True)
class HostSubject:
    """A Safety-Gymnasium vector environment, stepped by ``safety_gymnasium_worker.py`` under
    the interpreter ``python``; ``backend`` is its mode (``sync``, ``async``, ``pool-W``)."""

    family: str  # the Safety-Gymnasium id, e.g. SafetyPointGoal1-v0
    implementation: str  # SG_IMPLEMENTATION
    backend: str
    python: str


def parse_env_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME:key=value,...`` -> ``(NAME, keywords)``. A value is read as a Python
    literal when it is one (``level=2`` -> 2), else kept as a string (``layout=fixed``)."""
    name, _, options = spec.partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, options.split(",")):
        key, separator, value = item.partition("=")
        if not separator:
            raise ValueError(f"{spec!r}: options are key=value, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return name, kwargs


def jaxsafe_subject(name: str, backend: str, exact_resets: bool = False) -> Subject:
    """Our registered environment ``name`` (``NAME`` or ``NAME:key=value,...``, see
    :func:`parse_env_spec`; on brax ``backend`` for the brax tasks); with ``exact_resets``, a
    brax task without its reset pool."""
    registered_name, options = parse_env_spec(name)
    kwargs = {} if backend == NO_BACKEND else {"backend": backend}
    env, params = jaxsafe_envs.make(
        registered_name, **options, **kwargs, **(EXACT_RESETS if exact_resets else {})
    )

    def step(key: jax.Array, state: State, action: jax.Array) -> tuple[State, jax.Array]:
        obs, state, reward, _, _, info = env.step(key, state, action, params)
        return state, _signal(obs, reward, info["cost"])

    return Subject(
        family=name,
        implementation="jaxsafe-exact" if exact_resets else "jaxsafe",
        backend=backend,
        reset=lambda key: env.reset(key, params)[1],
        step=step,
        sample_action=env.action_space(params).sample,
    )


def safenax_subject(name: str, backend: str) -> Subject:
    """The safenax counterpart of our environment ``name``, configured as ours."""
    if REFERENCES[name] == "EcoAntV2":
        from safenax import EcoAntV2
        from safenax.wrappers.brax import BraxToGymnaxWrapper

        env = BraxToGymnaxWrapper(env=EcoAntV2(backend=backend), episode_length=1000)
    else:
        from safenax import FrozenLakeV2

        env = FrozenLakeV2(map_name="4x4", is_slippery=False)
    params = env.default_params

    def step(key: jax.Array, state: State, action: jax.Array) -> tuple[State, jax.Array]:
        # BraxToGymnaxWrapper returns (obs, state, reward, done, info); gymnax six entries.
        obs, state, reward, *_, info = env.step(key, state, action, params)
        return state, _signal(obs, reward, info["cost"])

    return Subject(
        family=name,
        implementation="safenax",
        backend=backend,
        reset=lambda key: env.reset(key, params)[1],
        step=step,
        sample_action=env.action_space(params).sample,
    )


def make_rollout(
    subject: Subject, num_envs: int, num_steps: int
) -> Callable[[State, jax.Array], tuple[State, jax.Array]]:
    """Jitted ``(states, key) -> (states, checksum)`` over ``num_steps`` batched steps; the
    states it returns have the types of those it takes."""
    sample = jax.vmap(subject.sample_action)
    step = jax.vmap(subject.step)

    def body(
        carry: tuple[State, jax.Array], key: jax.Array
    ) -> tuple[tuple[State, jax.Array], None]:
        states, checksum = carry
        key_action, key_step = jax.random.split(key)
        actions = sample(jax.random.split(key_action, num_envs))
        states, signal = step(jax.random.split(key_step, num_envs), states, actions)
        return (states, checksum + jnp.sum(signal)), None

    def rollout(states: State, key: jax.Array) -> tuple[State, jax.Array]:
        carry = (states, jnp.float32(0.0))
        (final, checksum), _ = jax.lax.scan(body, carry, jax.random.split(key, num_steps))
        # A step may return weakly typed leaves (safenax's brax metrics do); cast every leaf back
        # to the strong type it came in with, so the next call does not compile again.
        final = jax.tree.map(lambda new, old: jnp.asarray(new, old.dtype), final, states)
        return final, checksum

    return jax.jit(rollout)


def initial_states(subject: Subject, num_envs: int, key: jax.Array) -> State:
    """A batch of ``num_envs`` freshly reset states, of the types a step returns.

    Weak types are made strong: a reset that stores a Python scalar (safenax's FrozenLakeV2)
    would otherwise hand the second call a differently typed state and make it compile again.
    """
    reset = jax.jit(jax.vmap(subject.reset))
    states = reset(jax.random.split(key, num_envs))
    return jax.block_until_ready(jax.tree.map(lambda leaf: jnp.asarray(leaf, leaf.dtype), states))


def slice_batch(states: State, num_envs: int) -> State:
    """The first ``num_envs`` environments of a batch of states."""
    return jax.tree.map(lambda leaf: leaf[:num_envs], states)


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Seconds ``fn(*args)`` takes until its outputs are ready, and the outputs."""
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


class JaxRunner:
    """Calls of one subject's jitted rollout, each continuing the state the last one ended in."""

    def __init__(self, subject: Subject, batch: State, num_steps: int):
        num_envs = jax.tree.leaves(batch)[0].shape[0]
        self.rollout = make_rollout(subject, num_envs, num_steps)
        self.state = batch
        self.num_steps = num_steps

    def __call__(self, key: jax.Array) -> float:
        seconds, (self.state, _) = _timed(self.rollout, self.state, key)
        return seconds

    def close(self) -> None:
        pass


class HostRunner:
    """Calls of a Safety-Gymnasium worker process, started by the first call: each call runs
    ``num_steps`` vector steps and returns the seconds the worker timed them in (the first call
    returns its whole wall time: process start, import, building the envs and the steps)."""

    def __init__(self, subject: HostSubject, num_envs: int, num_steps: int, seed: int):
        mode, _, workers = subject.backend.partition("-")
        self.command = [
            subject.python,
            "-W",
            "ignore",
            str(SG_WORKER),
            subject.family,
            f"--num-envs={num_envs}",
            f"--mode={mode}",
            f"--workers={workers or 1}",
            f"--seed={seed}",
        ]
        self.num_steps = num_steps
        self.process: subprocess.Popen | None = None

    def __call__(self, key: jax.Array) -> float:
        del key  # the worker draws its actions from its own seeded generator
        if self.process is None:
            start = time.perf_counter()
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            self._reply()  # {"setup_s": ...}
            self._request()
            return time.perf_counter() - start
        return self._request()

    def _request(self) -> float:
        self.process.stdin.write(f"{self.num_steps}\n")
        self.process.stdin.flush()
        return self._reply()["seconds"]

    def _reply(self) -> dict[str, float]:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the Safety-Gymnasium worker stopped (exit {self.process.poll()}): "
                f"{' '.join(self.command)}"
            )
        return json.loads(line)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            self.process.wait(timeout=120)


def measure(
    subjects: Sequence[Subject],
    batches: Sequence[State],
    num_steps: int,
    repeats: int,
    key: jax.Array,
) -> list[Measurement]:
    """Times one cold call of each subject's rollout, then ``repeats`` rounds of one warm call of
    each, in an order reversed every other round; every call continues the subject's last
    state."""
    num_envs = jax.tree.leaves(batches[0])[0].shape[0]
    runners = [JaxRunner(s, b, num_steps) for s, b in zip(subjects, batches, strict=True)]
    return measure_runners(subjects, runners, num_envs, repeats, key)


def measure_runners(
    subjects: Sequence[Subject | HostSubject],
    runners: Sequence[JaxRunner | HostRunner],
    num_envs: int,
    repeats: int,
    key: jax.Array,
) -> list[Measurement]:
    """:func:`measure` on any runners: one cold call each, then ``repeats`` rounds of one warm
    call each, in an order reversed every other round. Closes the runners."""
    keys = jax.random.split(key, repeats + 1)
    warm_s: list[list[float]] = [[] for _ in subjects]
    try:
        first_call_s = [runner(keys[0]) for runner in runners]
        for round_index, warm_key in enumerate(keys[1:]):
            order = range(len(runners)) if round_index % 2 == 0 else reversed(range(len(runners)))
            for i in order:
                warm_s[i].append(runners[i](warm_key))
    finally:
        for runner in runners:
            runner.close()
    rounds_id = uuid.uuid4().hex[:12]
    return [
        Measurement(
            subject.family,
            subject.implementation,
            subject.backend,
            num_envs,
            runner.num_steps,
            first_s,
            min(times),
            None if isinstance(subject, HostSubject) else jax.__version__,
            tuple(times),
            rounds_id,
        )
        for subject, runner, first_s, times in zip(
            subjects, runners, first_call_s, warm_s, strict=True
        )
    ]


def median_interval(
    values: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """The median of ``values`` and a distribution-free ``confidence`` interval for it.

    For n independent draws the interval [x_(j), x_(n+1−j)] of the sorted values (1-based) covers
    the population median with probability 1 − 2 P(B < j), B ~ Binomial(n, ½); j is the largest
    index that keeps that probability ≥ ``confidence``. Needs n ≥ 6 at 95% (for smaller n no
    pair of order statistics reaches it).
    """
    ordered = sorted(values)
    n = len(ordered)
    tail = (1.0 - confidence) / 2.0
    below = 0.0  # P(B < j), accumulated for j = 1, 2, ...
    j = 0
    while below + math.comb(n, j) / 2**n <= tail:
        below += math.comb(n, j) / 2**n
        j += 1
    if j == 0:
        raise ValueError(f"{n} values give no {confidence:.0%} interval for the median")
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return median, ordered[j - 1], ordered[n - j]


def paired_ratio(ours: Measurement, reference: Measurement) -> tuple[float, float, float] | None:
    """Median and 95% interval of the per-round ratios t_ref / t_ours of two measurements taken
    in the same rounds, as their ``rounds_id`` says (``None`` when they were not, or there are
    too few rounds)."""
    rounds = len(ours.warm_s)
    same_rounds = bool(ours.rounds_id) and ours.rounds_id == reference.rounds_id
    if not same_rounds or rounds < MIN_PAIRED_ROUNDS or rounds != len(reference.warm_s):
        return None
    return median_interval([r / o for o, r in zip(ours.warm_s, reference.warm_s, strict=True)])


def default_steps(kind: str, num_envs: int) -> int:
    """Scan length that keeps a call to a few seconds: a fixed step budget, clipped."""
    low, high = STEP_LIMITS[kind]
    return min(max(ENV_STEPS_PER_RUN[kind] // num_envs, low), high)


def benchmark_group(
    family: str, backend: str, sizes: Sequence[int], args: argparse.Namespace
) -> Iterator[list[Measurement]]:
    """Our ``family`` on ``backend`` and its reference, measured in turn at each N; yields the
    measurements of one N at a time.

    Both are reset once at the largest N; each N measures the first N of those environments.
    """
    subjects = [jaxsafe_subject(family, backend)]
    if args.exact_resets and family in BRAX_ENVS:
        subjects.append(jaxsafe_subject(family, backend, exact_resets=True))
    if args.safenax and family in REFERENCES:
        subjects.append(safenax_subject(family, backend))
    kind = "light" if backend == NO_BACKEND else "brax"
    key_reset, key_run = jax.random.split(jax.random.key(args.seed))
    batches = [initial_states(subject, max(sizes), key_reset) for subject in subjects]
    for n in sizes:
        num_steps = args.steps or default_steps(kind, n)
        key = jax.random.fold_in(key_run, n)
        sliced = [slice_batch(states, n) for states in batches]
        yield measure(subjects, sliced, num_steps, args.repeats, key)


def safety_gymnasium_group(env_id: str, args: argparse.Namespace) -> Iterator[list[Measurement]]:
    """Safety-Gymnasium's ``env_id`` in every ``--sg-modes`` mode, measured in turn at each
    ``--sg-num-envs`` N (pool only where N is at least 2); yields one N at a time."""
    for n in args.sg_num_envs:
        backends = [
            f"pool-{args.sg_workers}" if mode == "pool" else mode
            for mode in args.sg_modes
            if mode != "pool" or n >= 2
        ]
        subjects = [HostSubject(env_id, SG_IMPLEMENTATION, b, args.sg_python) for b in backends]
        num_steps = args.sg_steps or default_steps("host", n)
        runners = [HostRunner(subject, n, num_steps, args.seed) for subject in subjects]
        key = jax.random.fold_in(jax.random.key(args.seed), n)
        yield measure_runners(subjects, runners, n, args.repeats, key)


def _key(m: Measurement) -> tuple[str, str, str, int]:
    """What a measurement is of: a later measurement of the same point replaces it."""
    return (m.family, m.implementation, m.backend, m.num_envs)


def _point(m: Measurement) -> tuple[str, str, int]:
    """Where a measurement sits in the sweep, shared by ours and its reference."""
    return (m.family, m.backend, m.num_envs)


def _row(m: Measurement, reference: Measurement | None) -> str:
    """One markdown table row; against a ``reference``, the best-of and the paired ratio."""
    ratio_text = paired_text = ""
    if reference is not None:
        ratio_text = f"{m.steps_per_s / reference.steps_per_s:.2f}x"
        paired = paired_ratio(m, reference)
        if paired is not None:
            median, low, high = paired
            paired_text = f"{median:.3f}x [{low:.3f}, {high:.3f}] ({len(m.warm_s)})"
    return (
        f"| {m.label} | {m.backend} | {m.num_envs} | {m.compile_s:.1f} | "
        f"{m.steps_per_s:,.0f} | {ratio_text} | {paired_text} | {m.jax_version or ''} |"
    )


def _backend_rank(backend: str) -> int:
    """Row order of backends: ours, the brax backends, then Safety-Gymnasium's modes."""
    order = [NO_BACKEND, *BRAX_BACKENDS, *SG_MODES]
    mode = backend.partition("-")[0] if backend != NO_BACKEND else backend
    return order.index(mode) if mode in order else len(order)


def markdown_table(measurements: Sequence[Measurement]) -> str:
    """The results table, each reference row under ours; ours shows ours / safenax steps/s, a
    Safety-Gymnasium row its steps/s over its ``sync`` row's at the same N."""
    rows = sorted(
        measurements,
        key=lambda m: (m.family, _backend_rank(m.backend), m.num_envs, m.implementation),
    )
    references = {_point(m): m for m in rows if m.implementation == "safenax"}
    sync_rows = {
        (m.family, m.num_envs): m
        for m in rows
        if m.implementation == SG_IMPLEMENTATION and m.backend == "sync"
    }
    lines = [
        "| env | backend | N | compile s | steps/s | vs reference | paired, median [95% CI] "
        "(rounds) | jax |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for m in rows:
        if m.implementation == SG_IMPLEMENTATION:
            ref = sync_rows.get((m.family, m.num_envs))
        else:
            ref = references.get(_point(m))
        lines.append(_row(m, None if m is ref else ref))
    return "\n".join(lines)


def report_header(measurements: Sequence[Measurement]) -> dict[str, str]:
    """The report's header; its jax line says when rows were measured with other versions."""
    header = reporting.device_header({"brax": metadata.version("brax")})
    others = sorted(
        {
            m.jax_version or "unrecorded"
            for m in measurements
            if m.implementation != SG_IMPLEMENTATION
        }
        - {jax.__version__}
    )
    if others:
        header["jax"] = (
            f"{jax.__version__} (this run); some rows were measured with "
            f"{', '.join(others)}: see the jax column"
        )
    return header


def _to_json(m: Measurement) -> dict[str, Any]:
    """A measurement's raw numbers and the derived ones."""
    return {**dataclasses.asdict(m), "compile_s": m.compile_s, "steps_per_s": m.steps_per_s}


def _from_json(raw: dict[str, Any]) -> Measurement:
    """The inverse of :func:`_to_json`; rows written before versions, warm calls or rounds were
    recorded have none."""
    names = {field.name for field in dataclasses.fields(Measurement)}
    fields = {name: value for name, value in raw.items() if name in names}
    return Measurement(**{**fields, "warm_s": tuple(fields.get("warm_s", ()))})


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line flags; ``--quick`` overrides N, steps and repeats for a smoke run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--steps", type=int, help="scan length of every call (default: scaled)")
    parser.add_argument("--backends", nargs="+", default=list(BRAX_BACKENDS), choices=BRAX_BACKENDS)
    parser.add_argument(
        "--envs",
        nargs="+",
        default=jaxsafe_envs.registered(),
        type=_env_spec,
        metavar="NAME[:key=value,...]",
        help="registered environments, with keyword options after a colon "
        "(PointGoal-v1:level=2); 'navigation' stands for "
        f"{' '.join(NAVIGATION_ENVS)} (default: every registered environment)",
    )
    parser.add_argument(
        "--max-envs-other-backends",
        type=int,
        help="largest N for brax backends other than generalized (default: no limit)",
    )
    parser.add_argument(
        "--exact-resets",
        action="store_true",
        help="also measure the brax tasks with reset_pool_size=0 (brax's reset every step)",
    )
    parser.add_argument(
        "--safenax",
        action="store_true",
        help=f"also measure safenax's counterparts ({', '.join(sorted(REFERENCES.values()))}) "
        f"of {', '.join(sorted(REFERENCES))}; needs the optional extra: {SAFENAX_INSTALL} "
        "(safenax pulls in jax[cuda13] on Linux)",
    )
    sg = parser.add_argument_group(
        "Safety-Gymnasium",
        "Safety-Gymnasium 1.0.0 pins gymnasium 0.28.1 (jaxsafe needs >= 1.0) and needs Python "
        "<= 3.10, so it is measured in its own virtual environment, through a subprocess running "
        "benchmarks/safety_gymnasium_worker.py: python3.10 -m venv VENV && VENV/bin/pip install "
        "-r benchmarks/requirements-safety-gymnasium.txt, then --sg-python VENV/bin/python.",
    )
    sg.add_argument(
        "--safety-gymnasium",
        nargs="*",
        metavar="ID",
        help="also time these Safety-Gymnasium ids "
        f"(none given: {' '.join(SAFETY_GYMNASIUM_ENVS)})",
    )
    sg.add_argument(
        "--sg-python",
        default=os.environ.get(SG_PYTHON_VARIABLE, "python3.10"),
        help=f"interpreter of the Safety-Gymnasium venv (default: ${SG_PYTHON_VARIABLE} or "
        "python3.10)",
    )
    sg.add_argument(
        "--sg-num-envs",
        type=int,
        nargs="+",
        default=[1, 2, 16],
        help="N of the Safety-Gymnasium vector envs; each MuJoCo env takes about 4 s to build "
        "and 220 MB (default: 1 2 16)",
    )
    sg.add_argument("--sg-modes", nargs="+", choices=SG_MODES, default=list(SG_MODES))
    sg.add_argument("--sg-workers", type=int, default=2, help="processes of the pool mode")
    sg.add_argument("--sg-steps", type=int, help="vector steps per call (default: scaled)")
    reporting.add_report_flags(parser)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: N in {1, 64}, 8 steps, one warm call"
    )
    args = parser.parse_args(argv)
    args.envs = list(
        dict.fromkeys(
            e for spec in args.envs for e in (spec if isinstance(spec, tuple) else [spec])
        )
    )
    if args.safety_gymnasium == []:
        args.safety_gymnasium = list(SAFETY_GYMNASIUM_ENVS)
    if args.quick:
        args.num_envs, args.steps, args.repeats = [1, 64], 8, 1
        args.sg_num_envs, args.sg_steps = [1, 2], 8
    if args.safenax and not _safenax_installed():
        parser.error(
            f"--safenax needs the safenax package, which is not installed: {SAFENAX_INSTALL}"
        )
    args.report_path = reporting.report_path(parser, args, RESULTS_STEM)
    return args


def _safenax_installed() -> bool:
    """Whether ``import safenax`` works."""
    try:
        import safenax  # noqa: F401
    except ImportError:
        return False
    return True


def _env_spec(spec: str) -> str | tuple[str, ...]:
    """An ``--envs`` entry: ``navigation`` (all of ``NAVIGATION_ENVS``) or a registered name with
    optional ``:key=value,...`` options."""
    if spec == "navigation":
        return NAVIGATION_ENVS
    name, options = parse_env_spec(spec)
    if name not in jaxsafe_envs.registered():
        raise argparse.ArgumentTypeError(
            f"{name!r} is not registered; choose from {jaxsafe_envs.registered()}"
        )
    unknown = set(options) - set(jaxsafe_envs.keywords(name))
    if unknown:
        raise argparse.ArgumentTypeError(f"{name}: unknown keyword(s) {sorted(unknown)}")
    return spec


def batch_sizes(backend: str, args: argparse.Namespace) -> list[int]:
    """The N values measured on ``backend``."""
    limit = args.max_envs_other_backends
    if backend in (NO_BACKEND, "generalized") or limit is None:
        return list(args.num_envs)
    return [n for n in args.num_envs if n <= limit]


def run_notes(args: argparse.Namespace) -> list[str]:
    """How to read the table, and what this run left out."""
    notes = [
        "steps/s: environment steps per second of the fastest warm call, summed over N envs.",
        "compile s: first call (trace + compile + run) less the fastest warm call.",
        "vs reference (jaxsafe rows): our steps/s over the safenax reference's at the same "
        "backend and N "
        "(> 1: ours is faster), each side's fastest warm call.",
        "paired: median over rounds of t_safenax / t_ours of our warm call and safenax's in the "
        "same round, with "
        "its distribution-free 95% confidence interval (order statistics) and the number of "
        "rounds; blank for rows measured before rounds were recorded or with fewer than "
        f"{MIN_PAIRED_ROUNDS} of them.",
        f"Brax tasks auto-reset from a pool of {DEFAULT_RESET_POOL_SIZE} pre-drawn brax initial "
        "states (the default); rows marked (reset_pool_size=0) compute brax's reset on every "
        "step instead.",
        "jax: the jax version the row was measured with (blank: not recorded).",
        *args.note,
    ]
    if args.safety_gymnasium:
        notes.append(
            "Safety-Gymnasium rows (safety-gymnasium 1.0.0, mujoco 2.3.3, gymnasium 0.28.1, "
            "Python 3.10, in their own venv): K vector steps of N MuJoCo envs with uniformly "
            "random actions, timed inside the worker process; sync: one process; async: "
            "Safety-Gymnasium's async vector env, one process per env; pool-W: W processes "
            "stepping N/W envs each, in lockstep. 'compile s' is the worker's start (import and "
            "building the envs); 'vs reference' and 'paired' compare with the sync row at the "
            "same N (> 1: faster than sync); the jax column does not apply."
        )
    if args.max_envs_other_backends is not None:
        notes.append(
            "brax backends other than generalized were measured up to "
            f"N={args.max_envs_other_backends} only."
        )
    return notes


def run(args: argparse.Namespace) -> tuple[list[Measurement], list[str]]:
    """Measures every selected environment and backend; returns the results and skip notes."""
    measurements: list[Measurement] = []
    skipped: list[str] = []
    for family in args.envs:
        backends = args.backends if parse_env_spec(family)[0] in BRAX_ENVS else [NO_BACKEND]
        for backend in backends:
            try:
                for point in benchmark_group(family, backend, batch_sizes(backend, args), args):
                    measurements.extend(point)
                    print(markdown_table(point).split("\n", 2)[2], flush=True)
            except Exception as error:  # a backend that fails is reported and skipped
                first_line = (str(error).splitlines() or [""])[0]
                skipped.append(
                    f"{family} on {backend} skipped: {type(error).__name__}: {first_line}"
                )
                print(skipped[-1], flush=True)
    for env_id in args.safety_gymnasium or []:
        try:
            for point in safety_gymnasium_group(env_id, args):
                measurements.extend(point)
                print(markdown_table(point).split("\n", 2)[2], flush=True)
        except Exception as error:  # a missing venv or a failing worker is reported and skipped
            first_line = (str(error).splitlines() or [""])[0]
            skipped.append(
                f"Safety-Gymnasium {env_id} skipped: {type(error).__name__}: {first_line}"
            )
            print(skipped[-1], flush=True)
    return measurements, skipped


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
    notes = list(dict.fromkeys([*notes, *run_notes(args), *skipped, *cache.notes(command)]))
    commands = [*commands, command]
    table = markdown_table(merged)
    reporting.publish(
        path,
        "Environment throughput",
        report_header(merged),
        commands,
        table,
        notes,
        [_to_json(m) for m in merged],
    )


if __name__ == "__main__":
    main(sys.argv[1:])
