"""CPO on PointCircle with the CPO paper's limit and cost shaping: at most 5 unsafe steps.

Achiam et al. 2017 §10.3.2: d = 5 on the undiscounted count of steps with |x| > 2.5, and the
paper's Point-Circle runs constrain the shaped cost C⁺ = C + P_φ(s → U) of §6.3, P_φ a learned
probability of incurring cost within T = 5 steps (:mod:`jaxsafe.cost_shaping`).

Without shaping, CPO recovers from ~12 to the limit within a few updates and then sits on it
from above, in case 1 at nearly every update (eval cost 5.3–6.4 per seed, 1M steps): each step
lands on the linearised boundary and the next batch measures 5–20% more. Constraining C⁺ keeps
the true cost below d by the margin E[Σ_t P_φ(s_t)].

The cost λ_GAE is 0.95, not the paper's 1: with 5,000-step batches (the paper's are 50,000) the
Monte-Carlo cost advantages of λ = 1 make b so noisy that a step predicted to cut the shaped cost
by 8 units cut it by ~0 (measured: C⁺ stuck at 9–14 against d = 5); at 0.95 C⁺ tracks d.

    python -m jaxsafe.run --config experiments/cpo_pointcircle.py --workdir runs/cpo_pointcircle
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cpo", "PointCircle-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 5.0
    config.algo.cost_shaping.horizon = 5  # CPO §10.3.2: T = 5, α = 1
    config.algo.cost_gae_lambda = 0.95
    return config
