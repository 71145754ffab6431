"""Evaluating a flipping family: every member, the LP's mixture, both execution modes, a report.

Shen et al., NeurIPS 2024, Algorithm 1 steps 3–4 and Algorithm 2 (ALGORITHMS.md §D.2–D.3). For
every seed of a ``flip`` run (:mod:`jaxsafe.algorithms.flip`):

1. each member i runs E fresh episodes with its own key (``fold_in(key, i)``), giving
   Ĵ_i (mean return), Ĉ_i (mean episode cost) and F̂_i = P(no cost within the first T steps)
   (T = ``algo.violation_horizon``, 0 for the whole episode), each with a 95% interval
   (normal for the means, Wilson for F̂);
2. the LP (:func:`jaxsafe.flipping.solve_two_member_lp`) on (Ĵ_i, c_i) with c_i = Ĉ_i and
   budget d, or c_i = 1 − F̂_i and budget α (``algo.budget_coordinate``, ``algo.budget``) picks
   (j₁*, j₂*, ν); an infeasible budget falls back to the safest member, and the report says so;
3. the mixture runs E more fresh episodes in each mode (``per_episode``, ``per_step``); its
   measured return, cost and violation probability are set against the LP's prediction
   ν X_{j₁*} + (1 − ν) X_{j₂*} (the exact value of the per-episode mixture, by linearity);
4. the best single member within the budget, and whether the members' frontier is strictly
   convex at the budget — the condition of Thm 6 under which flipping can beat every single
   policy: here, the LP's pair value exceeds the best single member's.

:func:`write_report` writes ``flip.json``, ``flip.md`` (tables) and ``flip.png`` (the (c_i, Ĵ_i)
frontier per seed, the chosen pair's mixture line, the measured points of both modes).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsafe import flipping
from jaxsafe.episodes import EpisodeResults, run_episodes
from jaxsafe.workdir import TrainedRun

Z = 1.959964  # the standard normal's 97.5% quantile
REPORT_JSON, REPORT_TABLE, REPORT_PLOT = "flip.json", "flip.md", "flip.png"


def violated(results: EpisodeResults, horizon: int) -> jax.Array:
    """``[...]`` bool: a step with cost within the first ``horizon`` steps (0: any step)."""
    window = results.length if horizon == 0 else jnp.minimum(results.length, horizon)
    return results.first_cost_step < window


def mean_interval(samples: np.ndarray) -> dict[str, float]:
    """Mean over the last axis with a normal 95% interval (population std / √E)."""
    samples = np.asarray(samples, np.float64)
    mean = float(samples.mean())
    half = Z * float(samples.std()) / np.sqrt(samples.size)
    return {"mean": mean, "low": mean - half, "high": mean + half}


def wilson_interval(successes: int, trials: int) -> dict[str, float]:
    """A proportion with its Wilson 95% score interval."""
    p = successes / trials
    centre = (p + Z**2 / (2 * trials)) / (1 + Z**2 / trials)
    half = Z * np.sqrt(p * (1 - p) / trials + Z**2 / (4 * trials**2)) / (1 + Z**2 / trials)
    return {"mean": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half)}


def estimates(results: EpisodeResults, horizon: int) -> dict[str, dict[str, float]]:
    """Return, cost and violation probability of one policy's ``[E]`` episodes, with intervals."""
    bad = np.asarray(violated(results, horizon))
    return {
        "return": mean_interval(results.episode_return),
        "cost": mean_interval(results.episode_cost),
        "violation": wilson_interval(int(bad.sum()), bad.size),
    }


def _combination(first: dict, second: dict, weight: float) -> dict[str, float]:
    """ν X₁ + (1 − ν) X₂ with the interval of independent estimates (half-widths in quadrature)."""
    mean = weight * first["mean"] + (1 - weight) * second["mean"]
    halves = [(e["high"] - e["low"]) / 2 for e in (first, second)]
    half = float(np.hypot(weight * halves[0], (1 - weight) * halves[1]))
    return {"mean": mean, "low": mean - half, "high": mean + half}


def evaluate_family(
    run: TrainedRun,
    num_episodes: int,
    seed: int = 0,
    deterministic: bool = False,
    modes: tuple[str, ...] = flipping.MODES,
) -> dict[str, Any]:
    """Steps 1–4 above for every seed of a ``flip`` run; the content of ``flip.json``."""
    algorithm, config = run.algorithm, run.config
    algo = config.algo
    num_members = algorithm.members
    horizon = int(algo.violation_horizon)
    episodes = functools.partial(
        run_episodes,
        env=algorithm.env,
        env_params=algorithm.env_params,
        num_episodes=num_episodes,
        deterministic=deterministic,
    )

    def members(state, key):
        def one(index):
            policy = algorithm.member_policy(state, index)
            return episodes(policy, key=jax.random.fold_in(key, index))[0]

        return jax.vmap(one)(jnp.arange(num_members))

    num_seeds = jax.tree.leaves(run.state)[0].shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    member_results = jax.device_get(jax.jit(jax.vmap(members))(run.state, keys))

    seeds = []
    for s in range(num_seeds):
        per_member = [
            estimates(jax.tree.map(lambda leaf, s=s, i=i: leaf[s, i], member_results), horizon)
            for i in range(num_members)
        ]
        returns = np.array([m["return"]["mean"] for m in per_member], np.float32)
        if algo.budget_coordinate == "cost":
            coordinate = np.array([m["cost"]["mean"] for m in per_member], np.float32)
        else:
            coordinate = np.array([m["violation"]["mean"] for m in per_member], np.float32)
        solution = jax.device_get(
            jax.jit(flipping.solve_two_member_lp)(returns, coordinate, algo.budget)
        )
        first, second = int(solution.mixture.first), int(solution.mixture.second)
        weight = float(solution.mixture.weight)
        within = [i for i in range(num_members) if coordinate[i] <= algo.budget]
        best = max(within, key=lambda i: returns[i]) if within else None
        seeds.append(
            {
                "members": [
                    {"cost_limit": float(algo.cost_limits[i]), **m}
                    for i, m in enumerate(per_member)
                ],
                "lp": {
                    "first": first,
                    "second": second,
                    "weight": weight,
                    "feasible": bool(solution.feasible),
                    "value": float(solution.value),
                    "coordinate": float(solution.cost),
                },
                "predicted": {
                    name: _combination(per_member[first][name], per_member[second][name], weight)
                    for name in ("return", "cost", "violation")
                },
                "best_single": best,
                "gain_over_best_single": (
                    float(solution.value - returns[best]) if best is not None else None
                ),
                "convex_at_budget": bool(best is not None and solution.value > returns[best]),
                "measured": {},
            }
        )

    for mode in modes:

        def mixture(state, key, mixture, mode=mode):
            policy = flipping.flipping_policy(
                algorithm.member_policy(state, mixture.first),
                algorithm.member_policy(state, mixture.second),
                mixture.weight,
                mode,
            )
            return episodes(policy, key=jax.random.fold_in(key, num_members + 1))[0]

        chosen = flipping.Mixture(
            *(
                jnp.asarray([seed_report["lp"][field] for seed_report in seeds], dtype)
                for field, dtype in (
                    ("first", jnp.int32),
                    ("second", jnp.int32),
                    ("weight", jnp.float32),
                )
            )
        )
        results = jax.device_get(jax.jit(jax.vmap(mixture))(run.state, keys, chosen))
        for s, seed_report in enumerate(seeds):
            seed_report["measured"][mode] = estimates(
                jax.tree.map(lambda leaf, s=s: leaf[s], results), horizon
            )
    return {
        "update": run.update,
        "episodes": num_episodes,
        "deterministic": bool(deterministic),
        "violation_horizon": horizon,
        "budget_coordinate": algo.budget_coordinate,
        "budget": float(algo.budget),
        "seeds": seeds,
    }


def _fmt(estimate: dict[str, float]) -> str:
    return f"{estimate['mean']:.4g} [{estimate['low']:.4g}, {estimate['high']:.4g}]"


def format_report(report: dict[str, Any]) -> str:
    """Markdown tables: the members, the LP's choice, predicted vs measured, per seed."""
    coordinate = "E[C] ≤ d" if report["budget_coordinate"] == "cost" else "P(violation) ≤ α"
    horizon = report["violation_horizon"]
    window = f"the first {horizon} steps" if horizon else "the episode"
    lines = [
        f"# Flipping-based policy after update {report['update']}",
        "",
        f"LP budget: {coordinate} = {report['budget']:g}; {report['episodes']} fresh episodes "
        f"per member and per mode; violation = a cost within {window}; "
        "intervals are 95%.",
    ]
    for s, seed in enumerate(report["seeds"]):
        lp = seed["lp"]
        lines += [
            "",
            f"## Seed {s}",
            "",
            "| member | cost limit | return Ĵ | cost Ĉ | violation 1 − F̂ |",
            "|---|---|---|---|---|",
        ]
        for i, member in enumerate(seed["members"]):
            row = [str(i), f"{member['cost_limit']:g}"]
            row += [_fmt(member[name]) for name in ("return", "cost", "violation")]
            lines.append("| " + " | ".join(row) + " |")
        status = "feasible" if lp["feasible"] else "INFEASIBLE: fell back to the safest member"
        best = seed["best_single"]
        lines += [
            "",
            f"LP ({status}): member {lp['first']} with ν = {lp['weight']:.4f}, "
            f"member {lp['second']} with {1 - lp['weight']:.4f}; predicted return "
            f"{lp['value']:.4g}. Best single member within the budget: "
            + (
                f"{best} (return {seed['members'][best]['return']['mean']:.4g}); gain of the "
                f"mixture {seed['gain_over_best_single']:.4g}; frontier strictly convex at the "
                f"budget (Thm 6): {'yes' if seed['convex_at_budget'] else 'no'}."
                if best is not None
                else "none."
            ),
            "",
            "| | return | cost | violation |",
            "|---|---|---|---|",
            "| LP prediction | "
            + " | ".join(_fmt(seed["predicted"][n]) for n in ("return", "cost", "violation"))
            + " |",
        ]
        for mode, measured in seed["measured"].items():
            lines.append(
                f"| measured, {mode} | "
                + " | ".join(_fmt(measured[n]) for n in ("return", "cost", "violation"))
                + " |"
            )
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: Path, title: str = "") -> Path:
    """The (c_i, Ĵ_i) frontier per seed, the LP's pair and line, the measured mixtures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "cost" if report["budget_coordinate"] == "cost" else "violation"
    seeds = report["seeds"]
    figure, axes = plt.subplots(
        1, len(seeds), figsize=(5 * len(seeds), 4), squeeze=False, sharey=True
    )
    markers = {"per_episode": ("s", "tab:green"), "per_step": ("^", "tab:red")}
    for s, (axis, seed) in enumerate(zip(axes[0], seeds, strict=True)):
        members = seed["members"]
        x = np.array([m[key]["mean"] for m in members])
        y = np.array([m["return"]["mean"] for m in members])
        xerr = np.array(
            [[m[key]["mean"] - m[key]["low"], m[key]["high"] - m[key]["mean"]] for m in members]
        ).T
        yerr = np.array(
            [
                [
                    m["return"]["mean"] - m["return"]["low"],
                    m["return"]["high"] - m["return"]["mean"],
                ]
                for m in members
            ]
        ).T
        axis.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color="tab:blue", label="members")
        for i, (xi, yi) in enumerate(zip(x, y, strict=True)):
            axis.annotate(f"{members[i]['cost_limit']:g}", (xi, yi), fontsize=7)
        lp = seed["lp"]
        pair = [lp["first"], lp["second"]]
        axis.plot(x[pair], y[pair], "-", color="black", label="LP pair (mixture line)")
        axis.plot(
            [lp["coordinate"]], [lp["value"]], "*", color="black", ms=12, label="LP prediction"
        )
        axis.axvline(report["budget"], ls="--", color="gray", label="budget")
        for mode, measured in seed["measured"].items():
            marker, color = markers[mode]
            mx, my = measured[key], measured["return"]
            axis.errorbar(
                [mx["mean"]],
                [my["mean"]],
                xerr=[[mx["mean"] - mx["low"]], [mx["high"] - mx["mean"]]],
                yerr=[[my["mean"] - my["low"]], [my["high"] - my["mean"]]],
                fmt=marker,
                color=color,
                label=f"measured {mode}",
            )
        axis.set_xlabel("episode cost Ĉ" if key == "cost" else "violation probability 1 − F̂")
        axis.set_title(f"{title} seed {s}".strip())
        if s == 0:
            axis.set_ylabel("return Ĵ")
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(report: dict[str, Any], directory: str | Path, title: str = "") -> list[Path]:
    """Writes ``flip.json``, ``flip.md`` and ``flip.png`` into ``directory``; their paths."""
    directory = Path(directory)
    json_path = directory / REPORT_JSON
    json_path.write_text(json.dumps(report, indent=2))
    table_path = directory / REPORT_TABLE
    table_path.write_text(format_report(report) + "\n")
    return [json_path, table_path, plot_report(report, directory / REPORT_PLOT, title)]
