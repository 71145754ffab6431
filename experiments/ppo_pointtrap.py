"""Unconstrained PPO on PointTrap-v1, the base method of ``csc_pointtrap.py``'s comparison.

Same batch, budget and seeds; no constraint (it takes the short way through the traps).

    python -m jaxsafe.run --config experiments/ppo_pointtrap.py --workdir runs/ppo_pointtrap
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo", "PointTrap-v1")
    config.num_seeds = 4
    config.total_timesteps = 60 * 8192  # 60 updates per seed, as csc_pointtrap.py
    algo = config.algo
    algo.num_envs, algo.num_steps = 32, 256  # batch 8,192
    algo.num_epochs, algo.num_minibatches = 10, 8
    algo.hidden_sizes = (64, 64)
    return config
