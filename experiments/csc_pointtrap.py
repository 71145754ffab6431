"""CSC on PointTrap-v1: reach the goal with as few deaths *during training* as possible.

CSC's point-agent trap maze (Bharadhwaj et al. 2021, §5; our maze, envs/README.md): a death (the
health counter emptied in the traps) is the binary, terminating failure. χ = 0.05: at most 5% of
episodes may fail. The same task, batch and budget as ``ppo_lag_pointtrap.py``,
``cpo_pointtrap.py`` and ``ppo_pointtrap.py`` (4 seeds each; docs/results.md compares their
cumulative training failures). K = 32 rejection candidates instead of R1's 100, to fit the CPU
budget of these runs.

    python -m jaxsafe.run --config experiments/csc_pointtrap.py --workdir runs/csc_pointtrap
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("csc", "PointTrap-v1")
    config.num_seeds = 4
    config.total_timesteps = 60 * 8192  # 60 updates per seed; docs/results.md gives the CPU budget
    algo = config.algo
    algo.num_envs, algo.num_steps = 32, 256  # batch 8,192
    algo.num_epochs, algo.num_minibatches = 10, 8
    algo.hidden_sizes = (64, 64)
    algo.cost_limit = 0.05  # χ: deaths per episode (binary, terminating)
    algo.cost_discount = 0.99  # γ of Q_C, ε and λ′
    algo.rejection_candidates = 32
    algo.safety_critic_steps = 32
    algo.safety_critic_initial_value = 1e-4  # Q̂_C ≈ 1e-4 at init: below ε = 5e-4 (csc.py)
    algo.policy_action_samples = 4
    algo.replay_capacity = 100_000
    return config
