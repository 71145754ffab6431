"""CVaR-PPO on IcyLake at the VaR-CPO paper's d = 15, α = 0.05.

CVaR_0.05 of the discounted episode cost must stay below 15: a one-ice path has a 10% chance
of an 18.5 episode, so only the all-snow path (cost 10) meets it.

    python -m jaxsafe.run --config experiments/cvar_ppo_icylake.py --workdir runs/cvar_ppo_icylake
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cvar_ppo", "IcyLake-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 15.0
    config.algo.alpha = 0.05
    return config
