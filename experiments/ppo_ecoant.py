"""PPO on EcoAnt (dense energy cost, battery 500): blind to cost; reports depletion.

Sized for a GPU (2,048 environments). Run:
    python -m jaxsafe.run --config experiments/ppo_ecoant.py --workdir runs/ppo_ecoant
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo", "EcoAnt-v2", battery=500.0)
    config.num_seeds = 3
    return config
