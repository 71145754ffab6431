"""A run's plots draw its levels: the cost limit d on the cost curve and, for VaR-CPO and
CVaR-PPO, the probability level α on the exceedance curve P(C ≥ d)."""

import json
from pathlib import Path

import pytest

from conftest import tiny_config
from jaxsafe import plotting
from jaxsafe.experiment import plot_references


@pytest.mark.parametrize("algo", ["varcpo", "cvar_ppo"])
def test_risk_algorithms_draw_alpha_on_the_exceedance_curve(algo):
    config = tiny_config(algo)
    config.algo.cost_limit, config.algo.alpha = 15.0, 0.05
    assert plot_references(config) == {
        "episode/cost": (15.0, "cost limit d"),
        "constraint/var_exceedance": (0.05, "α"),
    }


def test_expected_cost_algorithms_draw_only_the_limit():
    config = tiny_config("ppo_lag")
    assert plot_references(config) == {"episode/cost": (config.algo.cost_limit, "cost limit d")}
    assert plot_references(tiny_config("ppo")) == {}


def test_the_exceedance_figure_has_the_alpha_line(tmp_path, monkeypatch):
    rows = [
        {"update": u, "seed": 0, "env_steps": 8 * u, "episode/count": 1.0, "episode/cost": c,
         "constraint/var_exceedance": v}
        for u, c, v in [(1, 12.0, 0.4), (2, 11.0, 0.1), (3, 10.0, 0.0)]
    ]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    figures = {}
    monkeypatch.setattr(
        plotting.Figure, "savefig", lambda figure, path, **_: figures.update({Path(path): figure})
    )
    references = plot_references(tiny_config("varcpo"))
    plotting.plot_run(
        tmp_path,
        reference_lines={metric: value for metric, (value, _) in references.items()},
        reference_labels={metric: label for metric, (_, label) in references.items()},
    )
    (axes,) = figures[tmp_path / "plots" / "constraint_var_exceedance.png"].axes
    levels = {line.get_label(): list(line.get_ydata()) for line in axes.get_lines()}
    alpha = tiny_config("varcpo").algo.alpha
    assert levels[f"α = {alpha:g}"] == [alpha, alpha]
    (axes,) = figures[tmp_path / "plots" / "episode_cost.png"].axes
    limit = tiny_config("varcpo").algo.cost_limit
    assert f"cost limit d = {limit:g}" in [line.get_label() for line in axes.get_lines()]
