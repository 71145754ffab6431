"""TRPO-Lagrangian on EcoAnt with CPO's sparse depletion cost and limit 0.1.

python -m jaxsafe.run --config experiments/trpo_lag_ecoant.py --workdir runs/trpo_lag_ecoant
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("trpo_lag", "EcoAnt-v1", battery=500.0)
    config.num_seeds = 3
    config.algo.cost_limit = 0.1
    config.algo.cost_discount = 1.0
    config.algo.hidden_sizes = (256, 256)
    return config
