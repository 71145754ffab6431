"""CPPO-EM on PointCircle at the paper's setting: Table 1 and Table 2 of Xuan et al. (2023).

Table 1: batch 1,000 steps (20 environments × 50-step episodes), 2×10⁵ steps (200 updates),
limit d = 5 unsafe steps per episode; 4 seeds (App. E). Table 2: (64, 64) tanh networks,
γ 0.99 / λ 0.97, γ_c 0.99 / λ_c 0.95, policy lr 1e-4, value lr 1e-3, KL target 0.02, lower
clip 0.6, β 0.3. The PointCircle preset's CPO-paper values (γ 0.995, γ_c 1, λ_c 1, (64, 32),
100 environments) are replaced by these.

    python -m jaxsafe.run --config experiments/cppo_pointcircle.py --workdir runs/cppo_pointcircle
"""

from jaxsafe.config import make_config


def paper_setting(config):
    """Table 1 (PointCircle) and Table 2's shared values, for CPPO-EM and its baselines."""
    config.num_seeds = 4
    config.total_timesteps = 200_000
    algo = config.algo
    algo.num_envs, algo.num_steps = 20, 50  # batch 1,000: one 50-step episode per environment
    algo.cost_limit = 5.0
    algo.discount, algo.gae_lambda = 0.99, 0.97
    algo.cost_discount, algo.cost_gae_lambda = 0.99, 0.95
    algo.hidden_sizes = (64, 64)
    algo.critic_learning_rate = 1e-3
    return config


def get_config():
    config = paper_setting(make_config("cppo", "PointCircle-v1"))
    config.algo.num_minibatches = 10  # critics: 10 epochs × 10 minibatches of 100
    return config
