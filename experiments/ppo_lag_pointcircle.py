"""PPO-Lagrangian on PointCircle with CPO's limit: at most 5 unsafe steps per episode.

python -m jaxsafe.run --config experiments/ppo_lag_pointcircle.py --workdir runs/ppo_lag_pc
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo_lag", "PointCircle-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 5.0  # expected undiscounted unsafe steps per episode (CPO §10.3.2)
    return config
