"""CPO on PointCircle with the CPO paper's limit: at most 5 unsafe steps per episode.

Achiam et al. 2017 §10.3.2: d = 5 on the undiscounted count of steps with |x| > 2.5.

    python -m jaxsafe.run --config experiments/cpo_pointcircle.py --workdir runs/cpo_pointcircle
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("cpo", "PointCircle-v1")
    config.num_seeds = 3
    config.total_timesteps = 2_000_000  # CPO settles onto the limit from above; 1M ends at 5.3
    config.algo.cost_limit = 5.0
    return config
