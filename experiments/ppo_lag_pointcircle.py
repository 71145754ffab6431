"""PPO-Lagrangian on PointCircle with CPO's limit: at most 5 unsafe steps per episode.

python -m jaxsafe.run --config experiments/ppo_lag_pointcircle.py --workdir runs/ppo_lag_pc
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("ppo_lag", "PointCircle-v1")
    config.num_seeds = 3
    config.total_timesteps = 1_500_000
    config.algo.cost_limit = 5.0  # expected undiscounted unsafe steps per episode (CPO §10.3.2)
    # λ must keep up with a policy that learns the circle fast, without swinging: Adam at 0.035
    # lagged behind (mean cost 7.2 after 1M steps); Adam at 0.1 swung between 0.3 and 15 unsafe
    # steps once the cost critic stopped bootstrapping past the time limit (γ_c = 1). Plain
    # projected gradient ascent moves λ in proportion to the violation and holds the cost at ~5.
    config.algo.lagrange_optimizer = "sgd"
    config.algo.lagrange_learning_rate = 0.05
    return config
