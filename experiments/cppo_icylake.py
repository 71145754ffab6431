"""CPPO-EM on IcyLake at the expected-cost limit of ``cpo_icylake.py``: E[C] ≤ 9.75.

Only paths over ice satisfy this mean limit (the all-snow path costs 10; docs/results.md), so an
expected-cost method should end on the ice, with the heavy tail P(C ≥ 15) that only VaR-CPO
sees. IcyLake's preset (batch 32 × 128, policy and critic lr 1e-3, no observation
normalisation); Ĵ_C is the undiscounted episode cost (``limit_scale = "episode"``); 3 seeds.

    python -m jaxsafe.run --config experiments/cppo_icylake.py --workdir runs/cppo_icylake
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cppo", "IcyLake-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 9.75  # undiscounted expected episode cost
    config.log.cost_threshold = 15.0  # log P(C ≥ 15), the VaR event of varcpo_icylake.py
    return config
