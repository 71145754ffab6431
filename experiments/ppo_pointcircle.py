"""PPO on PointCircle: runs the circle and ignores the |x| ≤ 2.5 strip.

python -m jaxsafe.run --config experiments/ppo_pointcircle.py --workdir runs/ppo_pointcircle
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo", "PointCircle-v1")
    config.num_seeds = 3
    return config
