"""Flipping-based policy on PointHazards (Shen et al. 2024, App. K): 8 CPO members, 3 seeds.

The paper's numerical example: a noisy point from (0, 0) to (15, 15) past two discs; the cost is
the number of steps inside a disc (T = 120-step episodes), so E[C] ≤ d_i constrains how often and
how long a member threads the narrow gap between the discs. The 8 members at d_i ∈ {0, …, 8}
and the 3 seeds train as one program (24 CPO learners); ``jaxsafe.eval`` then evaluates every
member, solves the two-member LP at ``algo.budget`` (E[C] ≤ 1.5) and measures both execution
modes. Sized for a 2-core CPU (see docs/results.md for the step budget).

    python -m jaxsafe.run --config experiments/flip_pointhazards.py --workdir runs/flip_ph
    python -m jaxsafe.eval --workdir runs/flip_ph --episodes 500
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("flip", "PointHazards-v1")
    config.num_seeds = 3
    config.total_timesteps = 300_000
    algo = config.algo
    algo.cost_limits = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
    algo.budget = 1.5
    algo.num_envs, algo.num_steps = 16, 120  # one 120-step episode per environment per update
    algo.num_epochs, algo.num_minibatches = 5, 4
    algo.discount = 0.99
    algo.cost_discount = 1.0
    algo.cost_gae_lambda = 0.95
    config.log.updates_per_chunk = 10
    return config
