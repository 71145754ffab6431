"""CVaR-PPO on EcoAnt (dense energy cost, battery 500) at d = 500, α = 0.1.

The cost is undiscounted (γ_c = 1), so the cost return is the energy spent and C ≥ 500 is
exactly battery depletion (VARCPO.md §4's fix of the vacuous VaR event).

    python -m jaxsafe.run --config experiments/cvar_ppo_ecoant.py --workdir runs/cvar_ppo_ecoant
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cvar_ppo", "EcoAnt-v2", battery=500.0)
    config.num_seeds = 3
    config.algo.cost_limit = 500.0
    config.algo.alpha = 0.1
    config.algo.cost_discount = 1.0
    return config
