"""CPPO-EM on PointGoal-v1 level 1 at the paper's Safety-Gym setting (Xuan et al. 2023, Table 1).

Table 1 (PointGoal): batch 3×10⁴ steps (30 environments × one 1,000-step episode), 10⁷ steps,
limit d = 25 hazard steps per episode; 6 seeds (App. E). Table 2: (64, 64) tanh networks,
γ 0.99 / λ 0.97, γ_c 0.99 / λ_c 0.95, policy lr 1e-4, value lr 1e-3, KL target 0.02, lower
clip 0.6, β 0.3. PointGoal-v1 is jaxsafe's JAX approximation of Safety-Gym's point robot
(envs/README.md), not the MuJoCo task the paper ran.

    python -m jaxsafe.run --config experiments/cppo_pointgoal.py --workdir runs/cppo_pointgoal
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cppo", "PointGoal-v1", level=1)
    config.num_seeds = 6
    config.total_timesteps = 10_000_000
    algo = config.algo
    algo.num_envs, algo.num_steps = 30, 1000  # batch 3×10⁴: one episode per environment
    algo.num_minibatches = 30  # critics: minibatches of 1,000
    algo.cost_limit = 25.0
    algo.discount, algo.gae_lambda = 0.99, 0.97
    algo.cost_discount, algo.cost_gae_lambda = 0.99, 0.95
    algo.hidden_sizes = (64, 64)
    return config
