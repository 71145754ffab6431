"""PPO-Lagrangian on IcyLake with an expected-cost limit that only ice paths satisfy.

The all-snow path costs 10, a one-ice path 9.5 in expectation (VaR-CPO paper §5.1), so the
limit E[C] ≤ 9.75 pushes the agent onto the ice, whose cost tail it cannot see.

    python -m jaxsafe.run --config experiments/ppo_lag_icylake.py --workdir runs/ppo_lag_icylake
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo_lag", "IcyLake-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 9.75  # undiscounted expected episode cost
    config.algo.lagrange_learning_rate = 0.05
    config.log.cost_threshold = 15.0  # log P(C ≥ 15), the VaR event of varcpo_icylake.py
    return config
