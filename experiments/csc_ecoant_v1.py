"""CSC on EcoAnt-v1: battery depletion is CSC's binary, terminating failure.

EcoAnt-v1 pays cost 1 on the step that empties the battery (500), and that step ends the
episode, so V_C is the depletion probability, as in CSC's failure formulation (ALGORITHMS.md
§C.1). χ = 0.1 as the VaR-CPO paper's CPO baseline (``cpo_ecoant.py``). Sized for an
accelerator like the other EcoAnt configs (the preset's 2,048 environments × 32 steps, (256, 256)
networks); the ring holds about 15 batches.

    python -m jaxsafe.run --config experiments/csc_ecoant_v1.py --workdir runs/csc_ecoant_v1
"""

from jaxsafe.config import make_config


def get_config():
    config = make_config("csc", "EcoAnt-v1", battery=500.0)
    config.num_seeds = 3
    algo = config.algo
    algo.cost_limit = 0.1  # χ: depletions per episode
    algo.cost_discount = 0.999  # γ of Q_C, ε and λ′ (the preset's)
    # Q̂_C starts near 1e-5, below ε = (1 − γ)χ = 1e-4 (the default 1e-4 would sit on it; csc.py)
    algo.safety_critic_initial_value = 1e-5
    algo.hidden_sizes = (256, 256)
    algo.replay_capacity = 1_000_000
    algo.safety_critic_batch_size = 1024
    return config
