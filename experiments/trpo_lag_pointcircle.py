"""TRPO-Lagrangian on PointCircle at CPO's limit of 5 unsafe steps per episode.

python -m jaxsafe.run --config experiments/trpo_lag_pointcircle.py --workdir runs/trpo_lag_pc
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("trpo_lag", "PointCircle-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 5.0
    config.algo.lagrange_learning_rate = 0.1  # as ppo_lag_pointcircle: λ must keep up
    return config
