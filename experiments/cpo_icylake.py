"""CPO on IcyLake with an expected-cost limit that only ice paths satisfy: the paper's contrast.

The all-snow path costs 10, a one-ice path 9.5 in expectation (VARCPO.md §5), so E[C] ≤ 9.75
drives CPO onto the ice, where one episode in ten costs 18.5 — the tail a mean constraint
cannot see and VaR-CPO's does (``experiments/varcpo_icylake.py``).

    python -m jaxsafe.run --config experiments/cpo_icylake.py --workdir runs/cpo_icylake
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cpo", "IcyLake-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 9.75  # undiscounted expected episode cost
    config.algo.cost_discount = 1.0
    config.algo.max_kl = 0.02
    config.log.cost_threshold = 15.0  # log P(C ≥ 15), the VaR event of varcpo_icylake.py
    return config
