"""The ablation of Xuan et al. (2023) §4: CPPO-EM on PointCircle without the recovery update.

``cppo_pointcircle.py`` with ``algo.recovery = False``: the normal E-step throughout, also
when the batch violates d (then it still caps the cost surrogate at the budget, max 𝐯·𝐀 s.t.
𝐯·𝐀_c ≤ N d′ with d′ < 0), without the bang-bang switch, the multi-radius targets or the M-step's
β projection. The paper reports a cost of about 15 against d = 5 for this ablation.

    python -m jaxsafe.run --config experiments/cppo_pointcircle_no_recovery.py \\
        --workdir runs/cppo_pointcircle_no_recovery
"""

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "cppo_pointcircle", Path(__file__).with_name("cppo_pointcircle.py")
)
cppo_pointcircle = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cppo_pointcircle)


def get_config():
    config = cppo_pointcircle.get_config()
    config.algo.recovery = False
    return config
