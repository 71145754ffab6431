"""CPO on PointCircle with the CPO paper's limit: at most 5 unsafe steps per episode.

Achiam et al. 2017 §10.3.2: d = 5 on the undiscounted count of steps with |x| > 2.5.
Measured (3 seeds, 1M steps, 5,000 steps per update): CPO recovers from ~12 to the limit within
a few updates and then stays on it from above, in case 1 (infeasible, recoverable) at nearly
every update, ending at 5.3–5.9 unsafe steps per episode: each step lands on the linearised
boundary, and the surrogate underestimates the cost of the reward-seeking part of the step.

    python -m jaxsafe.run --config experiments/cpo_pointcircle.py --workdir runs/cpo_pointcircle
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cpo", "PointCircle-v1")
    config.num_seeds = 3
    config.algo.cost_limit = 5.0
    return config
