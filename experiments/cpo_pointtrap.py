"""CPO on PointTrap-v1, the trust-region baseline of ``csc_pointtrap.py``.

Same batch, budget and seeds; the limit is on the expected episode cost with γ_c = 1, i.e. the
death probability, at CSC's χ = 0.05.

    python -m jaxsafe.run --config experiments/cpo_pointtrap.py --workdir runs/cpo_pointtrap
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cpo", "PointTrap-v1")
    config.num_seeds = 4
    config.total_timesteps = 60 * 8192  # 60 updates per seed, as csc_pointtrap.py
    algo = config.algo
    algo.num_envs, algo.num_steps = 32, 256  # batch 8,192
    algo.num_epochs, algo.num_minibatches = 10, 8
    algo.hidden_sizes = (64, 64)
    algo.cost_discount = 1.0  # E[C] is the death probability
    algo.cost_limit = 0.05
    return config
