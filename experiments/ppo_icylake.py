"""PPO on IcyLake (4×4, non-slippery): blind to cost, it takes the short path over the ice.

    python -m jaxsafe.run --config experiments/ppo_icylake.py --workdir runs/ppo_icylake

Training settings are IcyLake's preset (jaxsafe.config.ENV_PRESETS); a few CPU minutes.
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo", "IcyLake-v1")
    config.num_seeds = 3
    config.log.cost_threshold = 15.0  # log P(C ≥ 15), the VaR event of varcpo_icylake.py
    return config
