"""TRPO-Lagrangian on PointCircle in the CPPO-EM paper's setting, beside ``cppo_pointcircle.py``.

Xuan et al. (2023) Table 1 (batch 1,000 of 50-step episodes, 2×10⁵ steps, d = 5, 4 seeds) and
Table 2's TRPO-Lag column (δ_KL 0.01, value lr 1e-3, multiplier lr 5e-2, (64, 64) tanh,
γ 0.99 / λ 0.97, λ_c 0.95), no cost shaping. As in ``cpo_pointcircle_cppo_paper.py``, γ_c is 1
so that the multiplier sees the undiscounted episode cost the limit is on.

    python -m jaxsafe.run --config experiments/trpo_lag_pointcircle_cppo_paper.py \\
        --workdir runs/trpo_lag_pointcircle_cppo_paper
"""

import importlib.util
from pathlib import Path

from jaxsafe.config import make_config

_SPEC = importlib.util.spec_from_file_location(
    "cppo_pointcircle", Path(__file__).with_name("cppo_pointcircle.py")
)
cppo_pointcircle = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cppo_pointcircle)


def get_config():
    config = cppo_pointcircle.paper_setting(make_config("trpo_lag", "PointCircle-v1"))
    config.algo.max_kl = 0.01
    config.algo.cost_discount = 1.0  # the multiplier on the undiscounted cost (see above)
    config.algo.lagrange_learning_rate = 0.05
    return config
