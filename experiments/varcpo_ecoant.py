"""VaR-CPO on EcoAnt, the paper's "safe start": dense energy cost, battery 500, d = 500, α = 0.1.

**[FIX]** (VARCPO.md §4): the cost is undiscounted (γ_c = 1), so the cost return C is the energy
an episode spends and the VaR event C ≥ 500 is exactly battery depletion; with the reference's
γ_c = 0.999 a depleting episode has C ≈ 470 < d and the exceedance is identically zero. The
true depletion rate is logged as ``episode/depleted`` and evaluated as ``depletion_rate``.

Sized for a GPU (2,048 environments × 32 steps per update, 20M steps).
    python -m jaxsafe.run --config experiments/varcpo_ecoant.py --workdir runs/varcpo_ecoant
"""

from jaxsafe.config import make_config


def get_config(battery: float = 500.0):
    config = make_config("varcpo", "EcoAnt-v2", battery=battery)
    config.num_seeds = 3
    config.algo.cost_limit = battery
    config.algo.alpha = 0.1
    config.algo.cost_discount = 1.0
    config.algo.hidden_sizes = (256, 256)
    return config
