"""PPO-Lagrangian on EcoAnt (sparse cost: 1 on battery depletion, battery 500).

The expected cost is the depletion probability; as in the VaR-CPO paper's CPO baseline, the
limit is 0.1.

    python -m jaxsafe.run --config experiments/ppo_lag_ecoant.py --workdir runs/ppo_lag_ecoant
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo_lag", "EcoAnt-v1", battery=500.0)
    config.num_seeds = 3
    config.algo.cost_limit = 0.1
    config.algo.cost_discount = 1.0  # the cost return is the depletion indicator
    return config
