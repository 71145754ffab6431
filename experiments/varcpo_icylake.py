"""VaR-CPO on IcyLake at the paper's d = 15, α = 0.05 (VARCPO.md §4): the README's main job.

P(C ≥ 15) ≤ 0.05 on the discounted episode cost (γ_c = 0.999): a one-ice path exceeds 15 with
probability 0.1, so only the all-snow path (cost 10) is feasible, and Cantelli's bound at
μ = 10, σ = 0 certifies it.

    python -m jaxsafe.run --config experiments/varcpo_icylake.py --workdir runs/varcpo_icylake
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("varcpo", "IcyLake-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 15.0
    config.algo.alpha = 0.05
    config.algo.max_kl = 0.02
    return config
