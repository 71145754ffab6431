"""CPPO-EM on AntCircle at the paper's setting (Xuan et al. 2023, Tables 1 and 2). Needs a GPU.

Table 1: batch 3×10⁴ steps (60 environments × one 500-step episode), 10⁷ steps (333 updates),
limit d = 50 unsafe steps per episode; 4 seeds. Table 2: (64, 64) tanh networks, γ 0.99 /
λ 0.97, γ_c 0.99 / λ_c 0.95, policy lr 1e-4, value lr 1e-3, KL target 0.02, lower clip 0.6,
β 0.3. AntCircle-v1 is mujoco-circle's task (radius 10, |x| ≤ 3) on brax's Ant.

On the 2-core CPU of this workplace a brax Ant update of 3×10⁴ steps takes minutes, so the full
run (4 seeds × 10⁷ steps) is for an accelerator; docs/results.md says how much of it was run
here.

    python -m jaxsafe.run --config experiments/cppo_antcircle.py --workdir runs/cppo_antcircle
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cppo", "AntCircle-v1", episode_length=500)
    config.num_seeds = 4
    config.total_timesteps = 10_000_000
    algo = config.algo
    algo.num_envs, algo.num_steps = 60, 500  # batch 3×10⁴: one episode per environment
    algo.num_minibatches = 30  # critics: minibatches of 1,000
    algo.cost_limit = 50.0
    algo.discount, algo.gae_lambda = 0.99, 0.97
    algo.cost_discount, algo.cost_gae_lambda = 0.99, 0.95
    algo.hidden_sizes = (64, 64)
    return config
