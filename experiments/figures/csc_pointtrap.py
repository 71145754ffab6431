"""Runs docs/results.md's CSC comparison on PointTrap-v1 and its χ sweep, then draws the figures.

    python experiments/figures/csc_pointtrap.py train --output runs/csc_pointtrap
    python experiments/figures/csc_pointtrap.py plot --output runs/csc_pointtrap \
        --images docs/images/csc_pointtrap

``train`` runs, one program at a time: CSC as one vmapped program over (χ, seed) pairs (χ = 0.05
with the comparison's 4 seeds, the other χ of the sweep with 2 seeds each), then PPO-Lagrangian,
CPO and PPO (``experiments/*_pointtrap.py``, 4 seeds each), all at ``--timesteps`` per seed. It
saves every run's metrics (``<name>.npz``), evaluates each final policy on 200 fresh episodes per
seed (CSC both with and without rejection sampling) and writes ``summary.json`` with the wall
and CPU time of each program. ``plot`` draws cumulative training failures and return against
environment steps (mean over seeds, shaded min–max), and the χ sweep's trade-off.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsafe.evaluation import run_episodes
from jaxsafe.train import hyperparams_with, make_algorithm, num_updates, run_updates

EXPERIMENTS = Path(__file__).resolve().parents[1]
BASELINES = ("ppo_lag", "cpo", "ppo")
MAIN_CHI = 0.05
SWEEP_CHI = (0.0, 0.2, 0.5)  # 2 seeds each, besides χ = 0.05's 4
EVAL_EPISODES = 200
KEPT = (
    "episode/return",
    "episode/cost",
    "episode/count",
    "episode/success",
    "episode/died",
    "failures/cumulative",
    "exploration/rejection_rate",
    "exploration/fallback_rate",
    "exploration/epsilon",
    "constraint/multiplier",
    "safety_critic/conservatism_gap",
    "safety_critic/q_data",
    "safety_critic/q_policy",
    "trust_region/accepted",
)


def load_config(name: str, timesteps: int):
    path = EXPERIMENTS / f"{name}_pointtrap.py"
    spec = importlib.util.spec_from_file_location(f"_config_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.total_timesteps = timesteps
    return config


def evaluate(algorithm, states, seed: int) -> dict[str, list[float]]:
    """Per run: mean return, death and success rates over EVAL_EPISODES fresh episodes."""

    def one(state, key):
        results, _ = run_episodes(
            algorithm.policy(state), algorithm.env, algorithm.env_params, key, EVAL_EPISODES
        )
        return (
            results.episode_return.mean(),
            (results.counters["died"] > 0).mean(),
            (results.counters["success"] > 0).mean(),
        )

    count = jax.tree.leaves(states)[0].shape[0]
    keys = jax.random.split(jax.random.key(seed + 1000), count)
    returns, died, success = jax.device_get(jax.jit(jax.vmap(one))(states, keys))
    return {"return": returns.tolist(), "died": died.tolist(), "success": success.tolist()}


def train_program(config, hyperparams_per_run: dict[str, np.ndarray] | None, keys):
    """One jitted program over runs (seeds, or (χ, seed) pairs): final states and metrics."""
    algorithm = make_algorithm(config)
    updates = num_updates(config, algorithm)

    def train(key, overrides):
        state = algorithm.init(key, hyperparams_with(algorithm, overrides))
        return run_updates(algorithm, state, updates)

    overrides = {name: jnp.asarray(v) for name, v in (hyperparams_per_run or {}).items()}
    start, cpu = time.perf_counter(), time.process_time()
    states, metrics = jax.jit(jax.vmap(train))(keys, overrides)
    metrics = jax.device_get(metrics)
    timing = {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}
    return algorithm, states, metrics, timing


def train_all(output: Path, timesteps: int, names: tuple[str, ...] = ("csc", *BASELINES)) -> None:
    """Trains and evaluates the programs ``names``, merged into ``output``'s summary."""
    output.mkdir(parents=True, exist_ok=True)
    summary = {"timesteps": timesteps, "runs": {}}
    if (output / "summary.json").exists():
        kept = json.loads((output / "summary.json").read_text())
        if kept["timesteps"] == timesteps:
            summary = kept

    if "csc" in names:
        train_csc(output, timesteps, summary)
    for name in BASELINES:
        if name in names:
            train_baseline(name, output, timesteps, summary)


def train_csc(output: Path, timesteps: int, summary: dict) -> None:
    """CSC: the comparison's χ with 4 seeds and the sweep's χ with 2 seeds, one program."""
    config = load_config("csc", timesteps)
    seeds = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
    chis = [MAIN_CHI] * config.num_seeds + [chi for chi in SWEEP_CHI for _ in range(2)]
    keys = jnp.concatenate([seeds] + [seeds[:2]] * len(SWEEP_CHI))
    algorithm, states, metrics, timing = train_program(
        config, {"cost_limit": np.array(chis, np.float32)}, keys
    )
    np.savez(output / "csc.npz", **{k: metrics[k] for k in KEPT if k in metrics})
    plain = dataclasses.replace(algorithm, policy=make_algorithm(_plain(config)).policy)
    summary["runs"]["csc"] = {
        "chi": chis,
        **timing,
        "eval_rejection": evaluate(algorithm, states, config.seed),
        "eval_plain": evaluate(plain, states, config.seed),
    }
    _report(summary, output)


def train_baseline(name: str, output: Path, timesteps: int, summary: dict) -> None:
    config = load_config(name, timesteps)
    keys = jax.random.split(jax.random.PRNGKey(config.seed), config.num_seeds)
    algorithm, states, metrics, timing = train_program(config, None, keys)
    np.savez(output / f"{name}.npz", **{k: metrics[k] for k in KEPT if k in metrics})
    summary["runs"][name] = {**timing, "eval": evaluate(algorithm, states, config.seed)}
    _report(summary, output)


def _plain(config):
    config = config.copy_and_resolve_references()
    config.algo.eval_rejection_sampling = False
    return config


def _report(summary, output: Path) -> None:
    """Prints the summary so far and saves it, so that an interrupted ``train`` still plots."""
    print(json.dumps(summary, indent=1), flush=True)
    (output / "summary.json").write_text(json.dumps(summary, indent=1))


def cumulative_failures(metrics) -> np.ndarray:
    """``[runs, updates]`` failures since the start: Σ episode/cost × episode/count (binary,
    terminating failure), the same count for every algorithm."""
    return np.cumsum(metrics["episode/cost"] * metrics["episode/count"], axis=1)


def plot_all(output: Path, images: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images.mkdir(parents=True, exist_ok=True)
    summary = json.loads((output / "summary.json").read_text())
    steps_per_update = 32 * 256
    # A baseline whose program did not finish is left out of the figure.
    runs = {
        name: dict(np.load(output / f"{name}.npz"))
        for name in ("csc", *BASELINES)
        if (output / f"{name}.npz").exists()
    }
    chis = np.array(summary["runs"]["csc"]["chi"])
    main = chis == MAIN_CHI
    labels = {"csc": "CSC", "ppo_lag": "PPO-Lagrangian", "cpo": "CPO", "ppo": "PPO"}

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
    for name, metrics in runs.items():
        rows = main if name == "csc" else slice(None)
        x = np.arange(1, metrics["episode/cost"].shape[1] + 1) * steps_per_update
        for axis, values in (
            (axes[0], cumulative_failures(metrics)[rows]),
            (axes[1], metrics["episode/return"][rows]),
        ):
            line = axis.plot(x, values.mean(0), label=labels[name])[0]
            axis.fill_between(x, values.min(0), values.max(0), alpha=0.2, color=line.get_color())
    axes[0].set(xlabel="environment steps per seed", ylabel="cumulative failures (deaths)")
    axes[1].set(xlabel="environment steps per seed", ylabel="episode return")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(images / "failures_and_return.png")

    fig, axis = plt.subplots(figsize=(4.5, 3.4), dpi=80)
    metrics = runs["csc"]
    failures = cumulative_failures(metrics)[:, -1]
    returns = np.array(summary["runs"]["csc"]["eval_rejection"]["return"])
    for chi in sorted(set(chis.tolist())):
        rows = chis == chi
        axis.scatter(failures[rows], returns[rows], label=f"χ = {chi}")
    axis.set(xlabel="cumulative training failures", ylabel="final return (eval)")
    axis.legend()
    fig.tight_layout()
    fig.savefig(images / "chi_sweep.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("train", "plot"))
    parser.add_argument("--output", type=Path, default=Path("runs/csc_pointtrap"))
    parser.add_argument("--images", type=Path, default=Path("docs/images/csc_pointtrap"))
    parser.add_argument("--timesteps", type=int, default=60 * 8192)
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=("csc", *BASELINES),
        default=("csc", *BASELINES),
        help="train only these programs, merged into --output's summary (default: all)",
    )
    args = parser.parse_args()
    if args.action == "train":
        train_all(args.output, args.timesteps, tuple(args.runs))
    else:
        plot_all(args.output, args.images)


if __name__ == "__main__":
    main()
