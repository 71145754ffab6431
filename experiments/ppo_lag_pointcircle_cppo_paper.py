"""PPO-Lagrangian on PointCircle in the CPPO-EM paper's setting, beside ``cppo_pointcircle.py``.

Xuan et al. (2023) Table 1 (batch 1,000 of 50-step episodes, 2×10⁵ steps, d = 5, 4 seeds) and
Table 2's PPO-Lag column (policy lr 3e-4, value lr 1e-3, multiplier lr 5e-2, clip 0.2,
(64, 64) tanh, γ 0.99 / λ 0.97, γ_c 0.99 / λ_c 0.95), no cost shaping. jaxsafe's PPO takes
10 epochs of 5 minibatches with one Adam over actor and critics and no KL early stop (Table 2's
0.01 is safety-starter-agents' target KL, which jaxsafe's PPO does not have); the multiplier
sees the undiscounted episode cost.

    python -m jaxsafe.run --config experiments/ppo_lag_pointcircle_cppo_paper.py \\
        --workdir runs/ppo_lag_pointcircle_cppo_paper
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
    config = cppo_pointcircle.paper_setting(make_config("ppo_lag", "PointCircle-v1"))
    algo = config.algo
    algo.policy_learning_rate, algo.critic_learning_rate = 3e-4, 1e-3
    algo.clip_epsilon = 0.2
    algo.num_epochs, algo.num_minibatches = 10, 5
    algo.lagrange_learning_rate = 0.05
    return config
