"""VaR-CPO on EcoAnt, the paper's "unsafe start": battery 50, d = 50, α = 0.1.

A random policy spends ≈ 1.35 per step and survives ~35 steps, so it starts infeasible
(μ ≥ d): VaR-CPO begins in recovery (plain CPO on μ ≤ d) and switches to the Cantelli
constraint once μ̂ < d. Otherwise as ``varcpo_ecoant.py`` (γ_c = 1, so C ≥ d is depletion).

    python -m jaxsafe.run --config experiments/varcpo_ecoant_battery50.py --workdir runs/varcpo_b50
"""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "varcpo_ecoant", Path(__file__).with_name("varcpo_ecoant.py")
)
_base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_base)


def get_config():
    return _base.get_config(battery=50.0)
