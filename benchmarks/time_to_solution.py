"""Time to solution: wall and CPU time from a cold process until a task is solved.

What a user waits for is not steps per second but the time from typing the command to a result,
start-up and XLA compilation included, which decide every short run on a CPU. Each task trains
its shipped experiment config in chunks of updates and stops at the first chunk after which its
criterion holds:

- ``varcpo-icylake``: ``experiments/varcpo_icylake.py`` with 5 vmapped seeds; after every chunk
  each seed's policy runs fresh evaluation episodes (:func:`jaxsafe.episodes.run_episodes`,
  sampled actions, as ``jaxsafe.eval``), and the task is solved when *every* seed is on the
  all-snow path: mean return ≥ 0.95, mean cost ≤ 10.5 and exceedance P(C_γ ≥ d) ≤ α;
- ``cpo-pointcircle``, ``ppo_lag-pointcircle``: ``experiments/{cpo,ppo_lag}_pointcircle.py``
  (3 seeds); solved when the training metrics' seed-mean episode cost, averaged over the last 5
  updates, is ≤ 5 with the same average of the return ≥ 40;
- ``readme-main-job``: the README's main job (``jaxsafe.run`` on
  ``experiments/varcpo_icylake.py``, 3 seeds) to its end, checkpoints and plots included.

Every measurement is its own Python process (this script with ``--child``): ``cold`` starts with
an empty persistent compilation cache, ``warm`` is a second process on the cache the cold one
filled (:mod:`jaxsafe.compilation_cache`). Wall time is the process's, from spawn to exit; CPU
time is its user + system time; compile time (XLA's backend compilation, plus tracing and
lowering to MLIR) is summed from JAX's monitoring events and reported apart.

    python benchmarks/time_to_solution.py [--tasks ...] [--output PATH | --append]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import reporting

REPO = Path(__file__).resolve().parent.parent
RESULTS_STEM = "time_to_solution"
STARTS = ("cold", "warm")
COMPILE_EVENTS = (
    "/jax/core/compile/backend_compile_duration",
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
)


@dataclasses.dataclass(frozen=True)
class Task:
    experiment: str  # path under experiments/
    num_seeds: int | None  # None: the experiment's
    criterion: str  # "evaluation", "training" or "finish"
    updates_per_check: int
    description: str


TASKS = {
    "varcpo-icylake": Task(
        "varcpo_icylake.py",
        5,
        "evaluation",
        5,
        "every one of 5 seeds: eval return ≥ 0.95, cost ≤ 10.5, P(C_γ ≥ 15) ≤ α = 0.05",
    ),
    "cpo-pointcircle": Task(
        "cpo_pointcircle.py", None, "training", 1, "5-update mean cost ≤ 5, return ≥ 40"
    ),
    "ppo_lag-pointcircle": Task(
        "ppo_lag_pointcircle.py", None, "training", 1, "5-update mean cost ≤ 5, return ≥ 40"
    ),
    "readme-main-job": Task(
        "varcpo_icylake.py", None, "finish", 0, "the whole run, checkpoints and plots included"
    ),
}
EVAL_EPISODES = 200  # per seed: the exceedance estimate's standard error is ≤ 0.016 at α = 0.05
RETURN_MIN, COST_MAX = 0.95, 10.5  # IcyLake: the all-snow path has return 1 and cost 10
CIRCLE_COST_MAX, CIRCLE_RETURN_MIN, CIRCLE_WINDOW = 5.0, 40.0, 5


# ---------------------------------------------------------------------------------------------
# The child process: one task from one start, printing one JSON line
# ---------------------------------------------------------------------------------------------


def load_config(task: Task):
    path = REPO / "experiments" / task.experiment
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    if task.num_seeds is not None:
        config.num_seeds = task.num_seeds
    config.log.progress = False
    return config


def child(task_name: str, cache_directory: str, workdir: str) -> dict[str, Any]:
    """Runs one task in this process and returns what it measured."""
    import jax

    from jaxsafe import compilation_cache

    compile_seconds = {event: 0.0 for event in COMPILE_EVENTS}
    hits = []

    def on_duration(event: str, seconds: float, **_: Any) -> None:
        if event in compile_seconds:
            compile_seconds[event] += seconds

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(
        lambda event, **_: hits.append(1) if event == "/jax/compilation_cache/cache_hits" else None
    )
    compilation_cache.configure(cache_directory)
    task = TASKS[task_name]
    config = load_config(task)
    if task.criterion == "finish":
        from jaxsafe.experiment import run_experiment

        run_experiment(config, workdir, report=lambda line: None)
        solved, updates = True, None
    else:
        solved, updates = _train_until_solved(task, config)
    return {
        "solved": solved,
        "updates": updates,
        "compile_s": sum(compile_seconds.values()),
        "backend_compile_s": compile_seconds[COMPILE_EVENTS[0]],
        "cache_hits": len(hits),
    }


def _train_until_solved(task: Task, config) -> tuple[bool, int]:
    """Chunks of ``task.updates_per_check`` updates until the criterion holds or the
    experiment's budget is spent; ``(solved, updates run)``."""
    import jax
    import numpy as np

    from jaxsafe.train import make_algorithm, num_updates, run_updates
    from jaxsafe.workdir import seed_keys

    algorithm = make_algorithm(config)
    total = num_updates(config, algorithm)
    init = jax.jit(jax.vmap(algorithm.init, in_axes=(0, None)))
    state = init(seed_keys(config), algorithm.hyperparams)
    chunk = jax.jit(jax.vmap(lambda s: run_updates(algorithm, s, task.updates_per_check)))
    evaluate = _evaluation(config, algorithm) if task.criterion == "evaluation" else None
    history: list[tuple[float, float]] = []  # seed-mean (return, cost) per update
    done = 0
    while done + task.updates_per_check <= total:
        state, metrics = chunk(state)
        done += task.updates_per_check
        if evaluate is not None:
            key = jax.random.fold_in(jax.random.PRNGKey(config.seed), done)
            returns, costs, exceedances = (np.asarray(x) for x in evaluate(state, key))
            alpha = config.algo.alpha
            if np.all((returns >= RETURN_MIN) & (costs <= COST_MAX) & (exceedances <= alpha)):
                return True, done
        else:
            metrics = jax.device_get(metrics)  # [seeds, updates]
            returns = np.nanmean(metrics["episode/return"], axis=0)
            costs = np.nanmean(metrics["episode/cost"], axis=0)
            history.extend(zip(returns.tolist(), costs.tolist(), strict=True))
            if len(history) >= CIRCLE_WINDOW:
                window = np.asarray(history[-CIRCLE_WINDOW:])
                if window[:, 0].mean() >= CIRCLE_RETURN_MIN and (
                    window[:, 1].mean() <= CIRCLE_COST_MAX
                ):
                    return True, done
    return False, done


def _evaluation(config, algorithm):
    """``(states, key) -> (return, cost, exceedance)``, each ``[seeds]``: means over
    :data:`EVAL_EPISODES` fresh episodes per seed."""
    import jax

    from jaxsafe.episodes import run_episodes

    threshold = config.algo.cost_limit

    def one_seed(state, key):
        results, _ = run_episodes(
            algorithm.policy(state),
            algorithm.env,
            algorithm.env_params,
            key,
            EVAL_EPISODES,
            cost_discount=config.algo.cost_discount,
        )
        exceedance = (results.discounted_cost >= threshold).mean()
        return results.episode_return.mean(), results.episode_cost.mean(), exceedance

    @jax.jit
    def evaluate(states, key):
        keys = jax.random.split(key, config.num_seeds)
        return jax.vmap(one_seed)(states, keys)

    return evaluate


# ---------------------------------------------------------------------------------------------
# The parent: a cold and a warm process per task, and the report
# ---------------------------------------------------------------------------------------------


def measure(task_name: str, start: str, cache_directory: Path, scratch: Path) -> dict[str, Any]:
    """Runs the child process for one task and start; its wall and CPU time and its JSON."""
    workdir = scratch / f"{task_name}-{start}"
    command = [
        sys.executable,
        __file__,
        "--child",
        task_name,
        "--compilation-cache",
        str(cache_directory),
        "--workdir",
        str(workdir),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{task_name} ({start}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"task": task_name, "start": start, "wall_s": wall, "cpu_s": cpu, **result}


def _seconds(value: float) -> str:
    return f"{value:,.1f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| task | start | solved | updates | wall s | CPU s | compile s | wall − compile s | "
        "programs from cache |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        updates = "all" if row["updates"] is None else str(row["updates"])
        lines.append(
            f"| {row['task']} | {row['start']} | {'yes' if row['solved'] else 'no'} | {updates} | "
            f"{_seconds(row['wall_s'])} | {_seconds(row['cpu_s'])} | "
            f"{_seconds(row['compile_s'])} | {_seconds(row['wall_s'] - row['compile_s'])} | "
            f"{row['cache_hits']} |"
        )
    return "\n".join(lines)


def run_notes() -> list[str]:
    notes = [f"{name}: {task.description}." for name, task in TASKS.items()]
    return notes + [
        "cold: a new process with an empty persistent compilation cache; warm: a second new "
        "process on the cache the cold one filled. Wall: spawn to exit of the process (Python "
        "start and imports included); CPU: its user + system time. compile s: XLA backend "
        "compilation + tracing + lowering, from JAX's monitoring events (a warm start's "
        "remaining compile s are tracing, lowering and programs too small to be cached).",
    ]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--child", choices=list(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    reporting.add_report_flags(parser)
    args = parser.parse_args(argv)
    if args.child is None:
        args.report_path = reporting.report_path(parser, args, RESULTS_STEM)
    return args


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return row["task"], row["start"]


def main(argv: Sequence[str]) -> None:
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.compilation_cache, args.workdir)))
        return
    path = args.report_path
    rows, notes, commands = reporting.load_report(path) if args.append else ([], [], [])
    measured = []
    with tempfile.TemporaryDirectory(prefix="jaxsafe-tts-") as scratch:
        for task_name in args.tasks:
            cache_directory = Path(scratch) / f"cache-{task_name}"  # empty: a cold start
            for start in STARTS:
                measured.append(measure(task_name, start, cache_directory, Path(scratch)))
                print(markdown_table(measured[-1:]).splitlines()[-1], flush=True)
    merged = list({_key(row): row for row in [*rows, *measured]}.values())
    command = reporting.command_line(__file__, argv)
    notes = list(dict.fromkeys([*notes, *run_notes(), *args.note]))
    reporting.publish(
        path,
        "Time to solution",
        reporting.device_header(),
        [*commands, command],
        markdown_table(merged),
        notes,
        merged,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
