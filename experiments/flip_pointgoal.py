"""Flipping-based policy on PointGoal-v1 level 2, fixed layout: 8 CPO members, 3 seeds.

Standing in for the paper's SafetyPointGoal2 with obstacles "deterministically replaced"
(Shen et al. 2024, App. L): level 2 (10 hazards, 10 penalised vases) in the one layout of
``layout_seed`` 0. The cost is the number of steps touching a hazard or a vase per 1,000-step
episode; the 8 members constrain it at d_i ∈ {0, …, 80} and ``jaxsafe.eval`` solves the LP at
E[C] ≤ 25. The paper trains 500 epochs of 40,000 steps on a GPU; this config is sized for a
2-core CPU (see docs/results.md for the step budget), far from convergence.

    python -m jaxsafe.run --config experiments/flip_pointgoal.py --workdir runs/flip_pg
    python -m jaxsafe.eval --workdir runs/flip_pg --episodes 100
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("flip", "PointGoal-v1", level=2, layout="fixed")
    config.num_seeds = 3
    config.total_timesteps = 200_000
    algo = config.algo
    algo.cost_limits = (0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 60.0, 80.0)
    algo.budget = 25.0
    algo.num_envs, algo.num_steps = 8, 500
    algo.num_epochs, algo.num_minibatches = 5, 8
    algo.discount, algo.gae_lambda = 0.99, 0.97
    algo.cost_discount, algo.cost_gae_lambda = 1.0, 0.95
    config.log.updates_per_chunk = 10
    return config
