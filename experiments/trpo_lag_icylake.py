"""TRPO-Lagrangian on IcyLake with the expected-cost limit 9.75 of ``cpo_icylake.py``.

python -m jaxsafe.run --config experiments/trpo_lag_icylake.py --workdir runs/trpo_lag_icylake
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("trpo_lag", "IcyLake-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 9.75  # undiscounted expected episode cost
    config.algo.max_kl = 0.02
    config.algo.lagrange_learning_rate = 0.05
    config.log.cost_threshold = 15.0  # log P(C ≥ 15), the VaR event of varcpo_icylake.py
    return config
