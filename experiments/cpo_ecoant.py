"""CPO on EcoAnt, the VaR-CPO paper's baseline: sparse cost (1 on depletion), limit 0.1.

With γ_c = 1 the expected cost return is the depletion probability, so CPO bounds
P(depletion) ≤ 0.1 in expectation over the batch — the same event as ``varcpo_ecoant.py``.

    python -m jaxsafe.run --config experiments/cpo_ecoant.py --workdir runs/cpo_ecoant
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cpo", "EcoAnt-v1", battery=500.0)
    config.num_seeds = 3
    config.algo.cost_limit = 0.1
    config.algo.cost_discount = 1.0
    config.algo.hidden_sizes = (256, 256)
    return config
