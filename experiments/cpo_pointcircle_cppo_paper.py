"""CPO on PointCircle in the CPPO-EM paper's setting: the baseline beside ``cppo_pointcircle.py``.

Xuan et al. (2023) Table 1 (batch 1,000 of 50-step episodes, 2×10⁵ steps, d = 5, 4 seeds) and
Table 2's CPO column (δ_KL 0.01, value lr 1e-3, (64, 64) tanh, γ 0.99 / λ 0.97, λ_c 0.95), no
cost shaping (the paper ported safety-starter-agents). One difference: jaxsafe's CPO estimates
the constraint with the same γ_c as its cost advantages, so γ_c is 1 here (the limit is on the
undiscounted episode cost, as safety-starter-agents' EpCost) instead of Table 2's 0.99.

    python -m jaxsafe.run --config experiments/cpo_pointcircle_cppo_paper.py \\
        --workdir runs/cpo_pointcircle_cppo_paper
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
    config = cppo_pointcircle.paper_setting(make_config("cpo", "PointCircle-v1"))
    config.algo.max_kl = 0.01
    config.algo.cost_discount = 1.0  # the constraint on the undiscounted cost (see above)
    return config
