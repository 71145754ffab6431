"""Semantic tests of the jaxsafe_envs environments against independent references.

Each environment is checked against something it does not share code with: hand-derived IcyLake
paths and Gymnasium's FrozenLake transition table, brax's own Ant, plain numpy implementations
of the PointCircle and AntCircle equations in their module docstrings, and the binomial laws of
the ice slips. Compiled functions (notably the brax Ant ones, ~5-15 s each to compile on CPU)
are shared across tests through module-scoped fixtures.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import brax.envs
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.envs.toy_text.frozen_lake import MAPS as GYM_MAPS
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

import jaxsafe_envs
from jaxsafe_envs import IcyLakeState, PointCircleState

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
_MOVES = {LEFT: (0, -1), DOWN: (1, 0), RIGHT: (0, 1), UP: (-1, 0)}


# --------------------------------------------------------------------------------------------
# IcyLake
# --------------------------------------------------------------------------------------------


def _gym_map(name: str) -> tuple[str, ...]:
    """Gymnasium's FrozenLake map with every hole made ice: the reference IcyLake map."""
    return tuple(row.replace("H", "T") for row in GYM_MAPS[name])


def _walk(desc: tuple[str, ...], actions: list[int]) -> list[str]:
    """The tile letters entered by a deterministic walk from ``S`` (walls keep you in place)."""
    rows, cols = len(desc), len(desc[0])
    flat = "".join(desc)
    row, col = divmod(flat.index("S"), cols)
    tiles = []
    for a in actions:
        d_row, d_col = _MOVES[a]
        row = min(max(row + d_row, 0), rows - 1)
        col = min(max(col + d_col, 0), cols - 1)
        tiles.append(desc[row][col])
    return tiles


def _icy_rollout_fn(env, params):
    """jit(vmap) of: reset, then ``env.step`` along a fixed action script; per-step outputs."""

    def rollout(key, actions):
        key_reset, key_steps = jax.random.split(key)
        obs0, state = env.reset(key_reset, params)

        def body(state, xs):
            key, action = xs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            out = {
                "obs": obs,
                "reward": reward,
                "terminated": terminated,
                "truncated": truncated,
                "cost": info["cost"],
                "entered_ice": info["entered_ice"],
                "slipped": info["slipped"],
                "final_observation": info["final_observation"],
                "position": state.position,
                "time": state.time,
            }
            return state, out

        keys = jax.random.split(key_steps, actions.shape[0])
        _, out = jax.lax.scan(body, state, (keys, actions))
        return obs0, out

    return jax.jit(jax.vmap(rollout, in_axes=(0, None)))


@pytest.fixture(scope="module")
def icy():
    env, params = jaxsafe_envs.make("IcyLake-v1")
    return SimpleNamespace(env=env, params=params, rollout=_icy_rollout_fn(env, params))


N_PATH_EPISODES = 20_000
"""Episodes per scripted path; one batch size so the vmapped rollout compiles once per length."""


def _run_script(icy, actions, n_episodes=N_PATH_EPISODES, seed=0):
    keys = jax.random.split(jax.random.key(seed), n_episodes)
    obs0, out = icy.rollout(keys, jnp.asarray(actions, jnp.int32))
    return np.asarray(obs0), jax.tree.map(np.asarray, out)


def _check_ice_info(out):
    """info["entered_ice"]/["slipped"] agree with the per-step costs (4x4 default costs)."""
    ice, slipped, cost = out["entered_ice"], out["slipped"], out["cost"]
    assert not np.any(slipped & ~ice), "slipped without entering ice"
    assert_array_equal(cost[ice], 0.5 + 10.0 * slipped[ice])
    assert np.all(np.isin(cost[~ice], [0.0, 2.0]))


def test_icy_lake_map_is_gymnasium_frozen_lake_with_ice(icy):
    assert icy.env.desc == _gym_map("4x4") == ("SFFF", "FTFT", "FFFT", "TFFG")


def test_icy_lake_all_snow_path_costs_exactly_ten(icy):
    path = [RIGHT, RIGHT, DOWN, DOWN, DOWN, RIGHT]
    tiles = _walk(_gym_map("4x4"), path)
    assert "T" not in tiles and tiles[-1] == "G" and tiles[:-1].count("G") == 0

    n = N_PATH_EPISODES
    obs0, out = _run_script(icy, path)
    assert_array_equal(obs0, np.tile(np.eye(16, dtype=np.float32)[0], (n, 1)))
    assert_array_equal(out["cost"], np.tile([2.0, 2.0, 2.0, 2.0, 2.0, 0.0], (n, 1)))
    assert_array_equal(out["cost"].sum(axis=1), np.full(n, 10.0, np.float32))
    assert_array_equal(out["reward"], np.tile([0, 0, 0, 0, 0, 1.0], (n, 1)))
    assert_array_equal(out["terminated"], np.tile([False] * 5 + [True], (n, 1)))
    assert not out["truncated"].any()
    assert not out["entered_ice"].any() and not out["slipped"].any()
    # The goal step: final_observation is the goal, the returned observation the reset start.
    assert_array_equal(out["final_observation"][:, -1], np.tile(np.eye(16)[15], (n, 1)))
    assert_array_equal(out["obs"][:, -1], np.tile(np.eye(16)[0], (n, 1)))
    assert_array_equal(out["position"][:, -1], 0)
    assert_array_equal(out["time"][:, -1], 0)
    # Positions along the way follow the path.
    assert_array_equal(out["position"][0, :-1], [1, 2, 6, 10, 14])


def test_icy_lake_one_ice_path_heavy_tail(icy):
    path = [RIGHT, DOWN, DOWN, RIGHT, DOWN, RIGHT]
    tiles = _walk(_gym_map("4x4"), path)
    assert tiles.count("T") == 1 and tiles[-1] == "G"

    n = N_PATH_EPISODES
    _, out = _run_script(icy, path, seed=1)
    total = out["cost"].sum(axis=1)
    assert out["terminated"][:, -1].all() and not out["terminated"][:, :-1].any()
    assert_array_equal(out["reward"].sum(axis=1), np.ones(n, np.float32))
    # Support {8.5, 18.5}: 8.5 + 10 * Bernoulli(0.1).
    assert np.all(np.isin(total, [8.5, 18.5]))
    # Mean 9.5 with std 10 * sqrt(0.1 * 0.9) = 3 per episode; 5 sigma of the sample mean.
    assert abs(total.mean() - 9.5) < 5 * 3.0 / math.sqrt(n)
    p_tail = (total > 15.0).mean()
    assert abs(p_tail - 0.1) < 5 * math.sqrt(0.1 * 0.9 / n)
    ice_steps = np.array([tile == "T" for tile in tiles])
    assert_array_equal(out["entered_ice"], np.tile(ice_steps, (n, 1)))
    assert_array_equal(total > 15.0, out["slipped"].any(axis=1))
    _check_ice_info(out)


def test_icy_lake_two_ice_path_slips_independent(icy):
    path = [RIGHT, RIGHT, RIGHT, DOWN, DOWN, DOWN]
    tiles = _walk(_gym_map("4x4"), path)
    assert tiles.count("T") == 2 and tiles[-1] == "G"

    n = N_PATH_EPISODES
    _, out = _run_script(icy, path, seed=2)
    total = out["cost"].sum(axis=1)
    slips = out["slipped"].sum(axis=1)
    assert_array_equal(total, 7.0 + 10.0 * slips)
    # Mean 7 + 10 * 0.2 = 9 with per-episode std 10 * sqrt(2 * 0.09).
    assert abs(total.mean() - 9.0) < 5 * 10.0 * math.sqrt(0.18) / math.sqrt(n)
    # Both slips: 0.01 if the two ice tiles draw independent slips.
    p_both = (slips == 2).mean()
    assert abs(p_both - 0.01) < 5 * math.sqrt(0.01 * 0.99 / n)
    assert_array_equal(out["entered_ice"].sum(axis=1), 2)
    _check_ice_info(out)


def test_icy_lake_wall_bumping_truncates_at_100(icy):
    # Always left from the start: every bump pays the start tile's snow cost.
    _, out = _run_script(icy, [LEFT] * 101, 4, seed=3)
    assert_array_equal(out["cost"], np.full((4, 101), 2.0, np.float32))
    assert_array_equal(out["cost"][:, :100].sum(axis=1), np.full(4, 200.0, np.float32))
    assert not out["terminated"].any()
    assert_array_equal(out["truncated"], np.tile([False] * 99 + [True, False], (4, 1)))
    assert not out["entered_ice"].any()

    # Right once, then bump up forever, then one more right after the truncation.
    script = [RIGHT] + [UP] * 99 + [RIGHT]
    _, out = _run_script(icy, script, 4, seed=4)
    eye = np.eye(16, dtype=np.float32)
    assert_array_equal(out["cost"][:, :100].sum(axis=1), np.full(4, 200.0, np.float32))
    assert not out["terminated"].any()
    assert_array_equal(out["truncated"], np.tile([False] * 99 + [True, False], (4, 1)))
    assert_array_equal(out["reward"], 0.0)
    # Truncation step: the pre-reset observation in info, the reset one returned.
    assert_array_equal(out["final_observation"][:, 99], np.tile(eye[1], (4, 1)))
    assert_array_equal(out["obs"][:, 98], np.tile(eye[1], (4, 1)))
    assert_array_equal(out["obs"][:, 99], np.tile(eye[0], (4, 1)))
    # The next episode really starts at S: "right" now enters tile 1, not tile 2.
    assert_array_equal(out["obs"][:, 100], np.tile(eye[1], (4, 1)))
    assert_array_equal(out["time"][:, 99:], np.tile([0, 1], (4, 1)))


def _frozen_lake_table(desc, success_rate):
    import gymnasium

    no_holes = [row.replace("T", "F").replace("H", "F") for row in desc]
    return gymnasium.make(
        "FrozenLake-v1", desc=no_holes, is_slippery=True, success_rate=success_rate
    ).unwrapped.P


@pytest.mark.parametrize("success_rate", [1.0 / 3.0, 0.7])
def test_icy_lake_slippery_matches_gymnasium_frozen_lake(success_rate):
    env, params = jaxsafe_envs.make("IcyLake-v1", is_slippery=True, success_rate=success_rate)
    n_states, goal = 16, 15
    n = 4000
    states = np.repeat(np.arange(n_states - 1), 4 * n)  # every non-terminal state
    actions = np.tile(np.repeat(np.arange(4), n), n_states - 1)
    keys = jax.random.split(jax.random.key(11), states.size)

    def one_step(key, position, action):
        state = IcyLakeState(position=position, time=jnp.int32(0))
        _, state, _, _, info = env.step_env(key, state, action, params)
        return state.position, info

    nxt, info = jax.jit(jax.vmap(one_step))(
        keys, jnp.asarray(states, jnp.int32), jnp.asarray(actions)
    )
    nxt, info = np.asarray(nxt), jax.tree.map(np.asarray, info)
    _check_ice_info(info)
    assert_array_equal(info["entered_ice"], np.isin(nxt, [5, 7, 11, 12]))
    table = _frozen_lake_table(env.desc, success_rate)
    for s in range(n_states):
        if s == goal:
            continue
        for a in range(4):
            expected = np.zeros(n_states)
            for prob, s_next, _, _ in table[s][a]:
                expected[s_next] += prob
            mask = (states == s) & (actions == a)
            freq = np.bincount(nxt[mask], minlength=n_states) / mask.sum()
            tol = 5 * np.sqrt(expected * (1 - expected) / n) + 1e-12
            assert np.all(np.abs(freq - expected) <= tol), (s, a, freq, expected)
            # Slips are independent of the direction drawn: P(slip | ice) = 0.1 whichever way
            # the agent slid onto the ice.
            on_ice = mask & info["entered_ice"]
            if on_ice.sum() >= 500:
                p_slip = info["slipped"][on_ice].mean()
                assert abs(p_slip - 0.1) < 5 * math.sqrt(0.09 / on_ice.sum()), (s, a, p_slip)


def test_icy_lake_8x8_map_truncates_at_200():
    env, params = jaxsafe_envs.make("IcyLake-v1", map_name="8x8")
    assert env.desc == _gym_map("8x8")
    assert int(params.max_steps_in_episode) == 200
    assert env.observation_space(params).shape == (64,)
    kinds = np.asarray(params.tiles)
    letters = np.array(list("".join(_gym_map("8x8"))))
    assert_array_equal(kinds == 1, letters == "T")
    assert_array_equal(kinds == 2, letters == "G")

    rollout = _icy_rollout_fn(env, params)
    obs0, out = rollout(jax.random.split(jax.random.key(5), 2), jnp.full(201, LEFT, jnp.int32))
    out = jax.tree.map(np.asarray, out)
    assert obs0.shape == (2, 64)
    assert_array_equal(out["truncated"], np.tile([False] * 199 + [True, False], (2, 1)))
    assert not out["terminated"].any()
    assert_array_equal(out["cost"][:, :200].sum(axis=1), np.full(2, 400.0, np.float32))


def test_icy_lake_normal_quantile_matches_scipy():
    from jaxsafe_envs.icy_lake import _standard_normal_quantile

    u = np.concatenate([np.linspace(1e-4, 1 - 1e-4, 10_001), [1e-7, 1e-5, 1 - 1e-5]])
    quantile = np.asarray(_standard_normal_quantile(jnp.asarray(u, jnp.float32)))
    reference = stats.norm.ppf(u.astype(np.float32).astype(np.float64))
    assert_allclose(quantile[:-3], reference[:-3], atol=2e-4)
    # In the far tail 2u − 1 loses digits in float32; the error stays a fraction of a percent.
    assert_allclose(quantile[-3:], reference[-3:], rtol=5e-3)


def test_icy_lake_snow_cost_noise_is_gaussian():
    """With ``snow_cost_std`` = σ every snow entry costs max(2 + σ ε, 0), ε ~ N(0, 1): the
    pooled costs of a wall-bumping script on the start tile pass a Kolmogorov–Smirnov test
    against N(2, σ²), and ice costs carry no noise."""
    sigma = 0.5
    env, params = jaxsafe_envs.make("IcyLake-v1", snow_cost_std=sigma)
    rollout = _icy_rollout_fn(env, params)
    keys = jax.random.split(jax.random.key(11), 2_000)
    _, out = rollout(keys, jnp.full(10, LEFT, jnp.int32))  # stays on the start tile
    costs = np.asarray(out["cost"]).ravel()
    assert stats.kstest(costs, stats.norm(2.0, sigma).cdf).pvalue > 0.01
    assert abs(costs.mean() - 2.0) < 0.02 and abs(costs.std() - sigma) < 0.02
    _, ice = rollout(keys[:500], jnp.asarray([RIGHT, DOWN], jnp.int32))  # snow, then ice
    ice_cost = np.asarray(ice["cost"])[:, 1]
    assert np.all(np.isin(ice_cost, [0.5, 10.5]))


# --------------------------------------------------------------------------------------------
# EcoAnt
# --------------------------------------------------------------------------------------------

ECO_NAMES = ["EcoAnt-v1", "EcoAnt-v2"]
ECO_STEPS = 30
# Compile budget: each Ant function costs ~10 s to compile on CPU. Both versions get reset_env
# and step_env; only EcoAnt-v2 also gets gymnax's auto-resetting ``step`` (the two versions
# share that code and differ only in the cost line, which the step_env tests cover).


def _strong(tree):
    """Drops weak types from a pytree's numeric leaves.

    brax's Ant returns a weakly typed ``done`` and metrics from ``step`` but strongly typed ones
    from ``reset``, so a jitted step fed its own output would compile a second time (~10 s on
    CPU for the Ant); the fixtures' jitted functions return strongly typed pytrees instead.
    """

    def strong(x):
        x = jnp.asarray(x)  # brax's metrics hold some Python floats
        if jnp.issubdtype(x.dtype, jnp.number):
            return jax.lax.convert_element_type(x, x.dtype)
        return x

    return jax.tree.map(strong, tree)


@jax.jit
def _perturbed(key, action, noise_scale):
    return jnp.clip(action + noise_scale * jax.random.normal(key, action.shape), -1.0, 1.0)


def _jit_strong(fn):
    return jax.jit(lambda *args: _strong(fn(*args)))


@pytest.fixture(scope="module")
def ant_ref():
    """brax's own Ant (generalized backend), jitted: the independent reference."""
    ant = brax.envs.get_environment("ant", backend="generalized")
    return SimpleNamespace(env=ant, reset=jax.jit(ant.reset), step=_jit_strong(ant.step))


@pytest.fixture(scope="module")
def eco():
    """Lazily built EcoAnt environments with noise_scale=0 and their jitted functions."""
    cache = {}

    def get(name, **kwargs):
        key = (name, *sorted(kwargs.items()))
        if key not in cache:
            env, params = jaxsafe_envs.make(name, noise_scale=0.0, **kwargs)
            cache[key] = SimpleNamespace(
                env=env,
                params=params,
                reset_env=jax.jit(env.reset_env),
                step_env=_jit_strong(env.step_env),
                step=_jit_strong(env.step),  # gymnax's auto-resetting step
            )
        return cache[key]

    return get


def _ant_actions(seed, n):
    return jax.random.uniform(jax.random.key(seed), (n, 8), minval=-1.0, maxval=1.0)


@pytest.mark.parametrize("name", ECO_NAMES)
def test_ecoant_noiseless_reproduces_brax_ant(name, eco, ant_ref):
    e = eco(name)
    key = jax.random.key(3)
    actions = _ant_actions(4, ECO_STEPS)
    step_keys = jax.random.split(jax.random.key(5), ECO_STEPS)

    ref = ant_ref.reset(key)
    obs, state = e.reset_env(key, e.params)
    assert_array_equal(np.asarray(obs[:-1]), np.asarray(ref.obs))
    assert float(obs[-1]) == 1.0

    previous_fraction = 1.0
    for t in range(ECO_STEPS):
        ref = ant_ref.step(ref, actions[t])
        if name == "EcoAnt-v2":
            g_obs, _, g_reward, g_term, g_trunc, g_info = e.step(
                step_keys[t], state, actions[t], e.params
            )
        obs, state, reward, terminated, info = e.step_env(step_keys[t], state, actions[t], e.params)
        assert float(ref.done) == 0.0, f"reference ant died at step {t}; pick another seed"
        # The observation is bit-exact. The reward may differ from brax's in the last bit or two:
        # XLA shares brax's control-cost sum of squares with EcoAnt's energy and fuses it
        # differently (observed: |diff| <= 2.4e-7 on rewards ~1).
        assert_array_equal(np.asarray(obs[:-1]), np.asarray(ref.obs), err_msg=f"step {t}")
        assert float(reward) == pytest.approx(float(ref.reward), rel=1e-6, abs=1e-6), t
        assert bool(terminated) == bool(ref.done > 0.5)
        fraction = float(obs[-1])
        assert 0.0 < fraction < previous_fraction
        previous_fraction = fraction
        assert float(info["cost"]) == (0.0 if name == "EcoAnt-v1" else float(info["energy"]))
        if name != "EcoAnt-v2":
            continue
        # gymnax's auto-resetting step gives the same transition on non-terminal steps.
        assert not bool(g_term) and not bool(g_trunc)
        assert_array_equal(np.asarray(g_obs), np.asarray(obs))
        assert_array_equal(np.asarray(g_info["final_observation"]), np.asarray(obs))
        assert float(g_reward) == pytest.approx(float(reward), rel=1e-6, abs=1e-6)
        assert float(g_info["cost"]) == float(info["cost"])
    assert int(state.time) == ECO_STEPS


@pytest.mark.parametrize("name", ECO_NAMES)
def test_ecoant_battery_arithmetic_with_noise(name, eco, ant_ref):
    e = eco(name)
    capacity, sigma = 40.0, 0.3
    params = e.params.replace(battery=jnp.float32(capacity), noise_scale=jnp.float32(sigma))
    actions = _ant_actions(6, 12)
    keys = jax.random.split(jax.random.key(7), 12)
    _, state = e.reset_env(jax.random.key(8), params)
    noise_mattered = False
    for t in range(12):
        before = np.float32(state.battery)
        obs, new_state, _, terminated, info = e.step_env(keys[t], state, actions[t], params)
        # The noise is drawn from the step key: a' = clip(a + sigma * eps, -1, 1), computed
        # compiled like the step's (eagerly, eps can differ in its last bit and the contact
        # dynamics amplify that beyond the tolerance below).
        applied = _perturbed(keys[t], actions[t], params.noise_scale)
        energy = float(info["energy"])
        assert energy <= 4.0
        assert energy == pytest.approx(0.5 * float(jnp.sum(applied**2)), rel=1e-6)
        noiseless = 0.5 * float(jnp.sum(jnp.clip(actions[t], -1.0, 1.0) ** 2))
        noise_mattered |= abs(energy - noiseless) > 1e-3
        # The battery loses exactly the energy; the observation shows the fraction left.
        assert np.float32(new_state.battery) == before - np.float32(energy)
        assert float(info["battery"]) == float(new_state.battery)
        assert np.float32(obs[-1]) == np.float32(new_state.battery) / np.float32(capacity)
        expected_cost = 0.0 if name == "EcoAnt-v1" else energy
        assert float(info["cost"]) == expected_cost
        assert not bool(info["depleted"]) and not bool(terminated)
        # The perturbed action is what drives brax's physics.
        ref = ant_ref.step(state.brax, applied)
        assert_allclose(np.asarray(obs[:-1]), np.asarray(ref.obs), rtol=1e-5, atol=1e-5)
        state = new_state
    assert noise_mattered

    # Saturation: |a'| <= 1 componentwise, so E <= 4 with equality at full throttle.
    for fill, noise in [(1.5, 0.0), (-1.0, 0.0), (0.0, 5.0)]:
        action = jnp.full(8, fill, jnp.float32)  # strongly typed, as the compiled step's
        p = params.replace(noise_scale=jnp.float32(noise))
        _, _, _, _, info = e.step_env(jax.random.key(9), state, action, p)
        if noise == 0.0:
            assert float(info["energy"]) == 4.0
        else:
            assert 0.0 < float(info["energy"]) <= 4.0


def _eco_episodes(e, params, n_steps, seed):
    """Runs gymnax's auto-resetting step; returns per-step records and the start state."""
    actions = _ant_actions(seed, n_steps)
    keys = jax.random.split(jax.random.key(seed + 1), n_steps)
    obs, state = e.reset_env(jax.random.key(seed + 2), params)
    first = obs
    records = []
    for t in range(n_steps):
        out = e.step(keys[t], state, actions[t], params)
        records.append((state, *out))
        state = out[1]
    return first, records


def test_ecoant_v1_sparse_cost_on_depletion(eco):
    e = eco("EcoAnt-v1")
    capacity, n_steps = 3.0, 25
    params = e.params.replace(battery=jnp.float32(capacity), noise_scale=jnp.float32(0.1))
    # Half-throttle actions, E ~ 1/3 a step: the battery drains over ~9 steps, through (0, 1].
    actions = 0.5 * _ant_actions(20, n_steps)
    keys = jax.random.split(jax.random.key(21), n_steps)
    _, state = e.reset_env(jax.random.key(22), params)
    charges = []
    for t in range(n_steps):
        left = np.float32(state.battery)
        obs, state, _, terminated, info = e.step_env(keys[t], state, actions[t], params)
        left -= np.float32(info["energy"])
        assert float(state.battery) == left
        if left > 0.0:
            charges.append(float(left))
            assert not bool(info["depleted"]) and not bool(terminated), t
            assert float(info["cost"]) == 0.0
            assert float(obs[-1]) == pytest.approx(left / capacity, rel=1e-6)
            continue
        # The depleting step: cost exactly 1, termination, an empty battery.
        assert bool(info["depleted"]) and bool(terminated)
        assert float(info["cost"]) == 1.0
        assert float(info["battery"]) == 0.0 and float(obs[-1]) == 0.0
        break
    else:
        pytest.fail(f"battery of {capacity} not depleted within {n_steps} steps")
    assert t >= 4 and min(charges) < 1.0  # the sparse cost stayed 0 on a nearly empty battery


def test_ecoant_v2_depletes_and_auto_resets(eco):
    e = eco("EcoAnt-v2")
    capacity = 3.0
    params = e.params.replace(battery=jnp.float32(capacity), noise_scale=jnp.float32(0.1))
    _, records = _eco_episodes(e, params, 12, seed=20)
    depletions = []
    for t, (before, obs, after, _, terminated, truncated, info) in enumerate(records):
        energy = np.float32(info["energy"])
        left = np.float32(before.battery) - energy
        depleted = bool(left <= 0.0)
        assert bool(info["depleted"]) == depleted
        assert not bool(truncated)
        assert float(info["cost"]) == float(energy)
        if depleted:
            depletions.append(t)
            assert bool(terminated)
            assert float(info["battery"]) == 0.0
            assert float(info["final_observation"][-1]) == 0.0
            # Auto-reset: a full battery and a fresh episode.
            assert float(obs[-1]) == 1.0
            assert float(after.battery) == capacity
            assert int(after.time) == 0
        else:
            assert not bool(terminated), f"ant died at step {t}; pick another seed"
            assert float(after.battery) == left
            assert float(obs[-1]) == pytest.approx(left / capacity, rel=1e-6)
    assert depletions and depletions[0] <= 5, depletions
    assert len(depletions) >= 2, depletions


def test_ecoant_resets_are_fresh(eco):
    """After a termination the next episode starts from a new random state, not a replay."""
    e = eco("EcoAnt-v2")
    params = e.params.replace(battery=jnp.float32(3.0), noise_scale=jnp.float32(0.1))
    first, records = _eco_episodes(e, params, 12, seed=30)
    starts = [np.asarray(first)]
    for _, obs, _, _, terminated, _, _ in records:
        if bool(terminated):
            starts.append(np.asarray(obs))
    assert len(starts) >= 3
    for s in starts:
        assert s[-1] == 1.0
    for i in range(len(starts)):
        for j in range(i + 1, len(starts)):
            assert not np.array_equal(starts[i][:-1], starts[j][:-1]), (i, j)


def test_brax_tasks_validate_reset_pool_keywords():
    for name in ("AntCircle-v1", "EcoAnt-v1", "EcoAnt-v2"):
        assert {"reset_pool_size", "reset_pool_seed"} <= set(jaxsafe_envs.keywords(name))
        with pytest.raises(ValueError, match="reset_pool_size"):
            jaxsafe_envs.make(name, reset_pool_size=-1)


def test_ecoant_reset_pool_holds_distinct_brax_resets(eco, ant_ref):
    """Pool state i is brax's own reset of key i of ``split(key(reset_pool_seed), P)``."""
    env = eco("EcoAnt-v2").env
    size = env.reset_pool_size
    pool = env.reset_pool
    assert pool.obs.shape == (size, 27)
    keys = jax.random.split(jax.random.key(env.reset_pool_seed), size)
    ends = np.array([0, size - 1])
    refs = [ant_ref.reset(keys[i]) for i in ends]
    expected = jax.tree.map(lambda *leaves: np.stack(leaves), *refs)
    assert_array_equal(np.asarray(pool.obs[ends]), expected.obs)
    jax.tree.map(
        lambda stacked, leaves: assert_allclose(stacked[ends], leaves, rtol=1e-5, atol=1e-6),
        pool.pipeline_state,
        expected.pipeline_state,
    )
    assert len(np.unique(np.asarray(pool.obs), axis=0)) == size


def _reset_keys(seed, n):
    """The reset keys of ``n`` steps: the second half of ``split`` of each step's key."""
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.vmap(lambda key: jax.random.split(key)[1])(keys)


@pytest.mark.parametrize("size", [16, 24, 1024])
def test_reset_index_is_uniform_over_the_pool(size):
    """``reset_index`` of 100k reset keys: int32 in {0, …, P−1}, the first raw word of the key
    modulo P, and uniform by a chi-square test (P = 24 is not a power of two: its modulo bias,
    below 24/2³², is far too small to show)."""
    env, _ = jaxsafe_envs.make("EcoAnt-v2", reset_pool_size=size)
    keys = _reset_keys(60 + size, 100_000)
    index = jax.jit(jax.vmap(env.reset_index))(keys)
    assert index.dtype == jnp.int32
    index = np.asarray(index)
    words = np.asarray(jax.random.key_data(keys))[:, 0]
    assert_array_equal(index, words % size)  # the documented rule, no random draw of its own
    counts = np.bincount(index, minlength=size)
    assert counts.shape == (size,)  # nothing at or above P
    expected = len(index) / size
    chi_square = float(np.sum((counts - expected) ** 2 / expected))
    p_value = float(jax.scipy.stats.chi2.sf(chi_square, size - 1))
    assert 1e-3 < p_value < 1 - 1e-3, (chi_square, p_value)  # neither skewed nor too even


def test_reset_index_is_independent_of_the_step_noise_key():
    """The index and the first word of the step's other key (the one its noise is drawn from)
    are jointly uniform on 16 × 16 cells (chi-square test over 100k steps)."""
    env, _ = jaxsafe_envs.make("EcoAnt-v2", reset_pool_size=16)
    keys = jax.random.split(jax.random.key(70), 100_000)
    halves = jax.vmap(jax.random.split)(keys)
    index = np.asarray(jax.vmap(env.reset_index)(halves[:, 1]))
    other = np.asarray(jax.random.key_data(halves[:, 0]))[:, 0] % 16
    counts = np.bincount(16 * index + other, minlength=256)
    expected = len(index) / 256
    chi_square = float(np.sum((counts - expected) ** 2 / expected))
    assert 1e-3 < float(jax.scipy.stats.chi2.sf(chi_square, 255)) < 1 - 1e-3


def test_reset_index_needs_a_pool():
    env, _ = jaxsafe_envs.make("EcoAnt-v2", reset_pool_size=0)
    with pytest.raises(ValueError, match="reset_pool_size=0"):
        env.reset_index(jax.random.key(0))


@pytest.mark.parametrize("reset_pool_size", [None, 0])
def test_ecoant_auto_reset_state(reset_pool_size, eco, ant_ref):
    """At an episode end ``step`` restarts from pool[i], i = the first raw word of the step's
    reset key modulo P (default), or from brax's reset of that key (``reset_pool_size=0``)."""
    kwargs = {} if reset_pool_size is None else {"reset_pool_size": reset_pool_size}
    e = eco("EcoAnt-v2", **kwargs)
    params = e.params.replace(max_steps_in_episode=jnp.int32(2))
    _, state = eco("EcoAnt-v2").reset_env(jax.random.key(50), params)
    actions = _ant_actions(51, 2)
    for t in range(2):
        key = jax.random.key(52 + t)
        obs, state, _, terminated, truncated, info = e.step(key, state, actions[t], params)
    assert bool(truncated) and not bool(terminated)
    assert not np.array_equal(np.asarray(obs), np.asarray(info["final_observation"]))

    key_reset = jax.random.split(key)[1]
    if reset_pool_size == 0:
        expected = ant_ref.reset(key_reset)
    else:
        index = int(jax.random.key_data(key_reset)[0]) % e.env.reset_pool_size
        assert int(e.env.reset_index(key_reset)) == index
        expected = jax.tree.map(lambda stacked: stacked[index], e.env.reset_pool)
    assert_array_equal(np.asarray(obs[:-1]), np.asarray(expected.obs))
    assert float(obs[-1]) == 1.0
    assert int(state.time) == 0 and float(state.battery) == float(params.battery)
    jax.tree.map(
        lambda leaf, ref: assert_allclose(leaf, ref, rtol=1e-5, atol=1e-6),
        state.brax.pipeline_state,
        expected.pipeline_state,
    )


# --------------------------------------------------------------------------------------------
# PointCircle
# --------------------------------------------------------------------------------------------


def _np_point_step(x, y, psi, action, radius=15.0, x_limit=2.5, limit=40.0):
    """PointCircle's docstring equations in float64 numpy; returns (x, y, psi, obs, r, c)."""
    forward = np.clip(float(action[0]), -1.0, 1.0)
    turn = np.clip(float(action[1]), -0.25, 0.25)
    psi_new = float(psi) + turn
    x_new = np.clip(float(x) + forward * np.cos(psi_new), -limit, limit)
    y_new = np.clip(float(y) + forward * np.sin(psi_new), -limit, limit)
    dx, dy = x_new - float(x), y_new - float(y)
    reward = (-y_new * dx + x_new * dy) / (1.0 + abs(np.hypot(x_new, y_new) - radius))
    cost = float(abs(x_new) > x_limit)
    obs = np.array([x_new, y_new, psi_new, dx, dy, turn, x_new, y_new, 0.5])
    return x_new, y_new, psi_new, obs, reward, cost


@pytest.fixture(scope="module")
def point():
    env, params = jaxsafe_envs.make("PointCircle-v1")

    def rollout(state, keys, actions):
        def body(state, xs):
            key, action = xs
            obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)
            out = (obs, info["final_observation"], reward, info["cost"], terminated, truncated)
            return state, out

        return jax.lax.scan(body, state, (keys, actions))

    return SimpleNamespace(
        env=env,
        params=params,
        reset=jax.jit(jax.vmap(env.reset, in_axes=(0, None))),
        rollout=jax.jit(jax.vmap(rollout)),
    )


POINT_BATCH, POINT_STEPS = 16, 50
"""One rollout shape for all PointCircle tests, so the vmapped rollout compiles once."""


def _point_actions(seed, batch=POINT_BATCH, steps=POINT_STEPS):
    # Ranges twice the action box, so about half of each component gets clipped.
    scale = jnp.array([2.0, 0.5])
    return jax.random.uniform(jax.random.key(seed), (batch, steps, 2), minval=-1, maxval=1) * scale


def _check_point_against_numpy(start_obs, actions, final_obs, reward, cost):
    """One-step numpy reference from each previous observation (which holds x, y, psi)."""
    batch, steps = reward.shape
    clipped = 0
    for b in range(batch):
        prev = start_obs[b]
        for t in range(steps):
            x, y, psi, obs, r, c = _np_point_step(prev[0], prev[1], prev[2], actions[b, t])
            clipped += abs(x) == 40.0 or abs(y) == 40.0
            assert_allclose(final_obs[b, t], obs, rtol=1e-5, atol=1e-5, err_msg=f"{b},{t}")
            assert reward[b, t] == pytest.approx(r, rel=1e-4, abs=1e-5), (b, t)
            assert cost[b, t] == c, (b, t)
            prev = final_obs[b, t]
    return clipped


def test_point_circle_matches_numpy_equations(point):
    batch, steps = POINT_BATCH, POINT_STEPS
    start_obs, start_state = point.reset(jax.random.split(jax.random.key(40), batch), point.params)
    start_obs = np.asarray(start_obs)
    # Reset: (x, y, psi) ~ N(0, 0.01^2), zero displacement, com height 0.5.
    assert np.all(np.abs(start_obs[:, :3]) < 0.05) and np.any(start_obs[:, :3] != 0)
    assert_array_equal(start_obs[:, 3:6], 0.0)
    assert_array_equal(start_obs[:, 6:8], start_obs[:, 0:2])
    assert_array_equal(start_obs[:, 8], 0.5)

    actions = np.asarray(_point_actions(41))
    keys = jax.random.split(jax.random.key(42), (batch, steps))
    _, out = point.rollout(start_state, keys, jnp.asarray(actions))
    obs, final_obs, reward, cost, terminated, truncated = jax.tree.map(np.asarray, out)
    assert np.abs(actions[..., 0]).max() > 1.0 and np.abs(actions[..., 1]).max() > 0.25
    _check_point_against_numpy(start_obs, actions, final_obs, reward, cost)
    assert 0 < cost.mean() < 1, "want both safe and unsafe steps"
    # No termination; default horizon 50 truncates on the 50th step.
    assert not terminated.any()
    assert_array_equal(truncated, np.tile([False] * 49 + [True], (batch, 1)))
    assert_array_equal(obs[:, :-1], final_obs[:, :-1])
    assert not np.array_equal(obs[:, -1], final_obs[:, -1])


def test_point_circle_position_clip(point):
    batch = POINT_BATCH
    rng = np.random.default_rng(45)
    signs = rng.choice([-1.0, 1.0], size=(batch, 2))
    signs[0] = [1.0, -1.0]
    corners = (signs * rng.uniform(36.0, 39.9, size=(batch, 2))).astype(np.float32)
    corners[0] = [39.5, -39.8]
    headings = np.arctan2(signs[:, 1], signs[:, 0]).astype(np.float32)  # outward
    state = PointCircleState(
        x=jnp.asarray(corners[:, 0]),
        y=jnp.asarray(corners[:, 1]),
        heading=jnp.asarray(headings),
        last_displacement=jnp.zeros((batch, 3)),
        time=jnp.zeros(batch, jnp.int32),
        episode_length=jnp.full(batch, 1000, jnp.int32),
    )
    # Mostly full speed outward, with some random (and out-of-range) jitter.
    jitter = np.asarray(_point_actions(43)) * np.array([0.5, 0.3])
    actions = (np.array([1.0, 0.0]) + jitter).astype(np.float32)
    actions[0, 0] = [1.0, 0.0]
    keys = jax.random.split(jax.random.key(44), (batch, POINT_STEPS))
    _, out = point.rollout(state, keys, jnp.asarray(actions))
    _, final_obs, reward, cost, _, truncated = jax.tree.map(np.asarray, out)
    # By hand: from (39.5, -39.8) heading -pi/4 one unit forward overshoots both walls; the
    # displacement is the clipped one.
    s = math.sqrt(0.5)
    assert_allclose(
        final_obs[0, 0],
        [40.0, -40.0, -math.pi / 4, 0.5, -0.2, 0.0, 40.0, -40.0, 0.5],
        rtol=1e-5,  # -39.8 is not a float32: dy = -0.2000008
        atol=1e-5,
    )
    expected_reward = (40.0 * 0.5 + 40.0 * -0.2) / (1 + 40 * 2 * s - 15)
    assert reward[0, 0] == pytest.approx(expected_reward, rel=1e-5)
    start_obs = np.concatenate(
        [corners, headings[:, None], np.zeros((batch, 3)), corners, np.full((batch, 1), 0.5)], 1
    )
    clipped = _check_point_against_numpy(start_obs, actions, final_obs, reward, cost)
    assert clipped > batch
    assert np.abs(final_obs[..., :2]).max() == 40.0
    assert not truncated.any()


def test_point_circle_random_episode_lengths():
    env, params = jaxsafe_envs.make("PointCircle-v1", episode_length_range=(50, 65))
    assert int(params.max_steps_in_episode) == 64
    _, states = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(jax.random.key(50), 2000), params
    )
    lengths = np.asarray(states.episode_length)
    assert lengths.min() == 50 and lengths.max() == 64
    assert len(np.unique(lengths)) == 15

    def rollout(key):
        _, state = env.reset(key, params)

        def body(state, key):
            _, state, _, terminated, truncated, _ = env.step(key, state, jnp.zeros(2), params)
            return state, (terminated, truncated)

        return jax.lax.scan(body, state, jax.random.split(key, 300))[1]

    terminated, truncated = jax.jit(jax.vmap(rollout))(jax.random.split(jax.random.key(51), 8))
    assert not np.asarray(terminated).any()
    episode_lengths = []
    for row in np.asarray(truncated):
        ends = np.flatnonzero(row) + 1
        episode_lengths.extend(np.diff(np.concatenate([[0], ends])).tolist())
    assert len(episode_lengths) >= 8 * 4
    assert all(50 <= n < 65 for n in episode_lengths), episode_lengths
    assert len(set(episode_lengths)) > 3


def test_point_circle_resets_are_fresh(point):
    """Successive episodes (auto-reset on truncation) start from different random poses."""
    keys = jax.random.split(jax.random.key(60), POINT_BATCH)
    start_obs, state = point.reset(keys, point.params)
    starts = [np.asarray(start_obs)]
    actions = jnp.zeros((POINT_BATCH, POINT_STEPS, 2))
    for episode in range(2):
        keys = jax.random.split(jax.random.key(61 + episode), (POINT_BATCH, POINT_STEPS))
        state, out = point.rollout(state, keys, actions)
        obs, _, _, _, _, truncated = jax.tree.map(np.asarray, out)
        assert truncated[:, -1].all() and not truncated[:, :-1].any()
        starts.append(obs[:, -1])
    starts = np.concatenate(starts)  # 3 episodes x 16 environments
    assert_array_equal(starts[:, 3:6], 0.0)
    assert len(np.unique(starts[:, :3], axis=0)) == len(starts)


# --------------------------------------------------------------------------------------------
# AntCircle
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ant_circle():
    env, params = jaxsafe_envs.make("AntCircle-v1")
    return SimpleNamespace(
        env=env,
        params=params,
        reset_env=jax.jit(env.reset_env),
        step_env=_jit_strong(env.step_env),
        pipeline_init=jax.jit(env.brax_env.pipeline_init),
    )


def _ant_circle_rollout(ac, state, params, seed, steps=20):
    """step_env along random actions (through terminations: the formulas hold there too)."""
    actions = _ant_actions(seed, steps)
    keys = jax.random.split(jax.random.key(seed + 1), steps)
    x0 = np.asarray(state.brax.pipeline_state.q[:2])
    positions, rewards, costs = [x0], [], []
    for t in range(steps):
        obs, state, reward, terminated, info = ac.step_env(keys[t], state, actions[t], params)
        positions.append(np.asarray(obs[:2]))
        rewards.append(float(reward))
        costs.append(float(info["cost"]))
        # brax's unhealthy termination: torso height obs[2] outside [0.2, 1.0].
        assert bool(terminated) == (not 0.2 <= float(obs[2]) <= 1.0), t
    return np.array(positions, np.float64), np.array(rewards), np.array(costs)


def _check_ant_circle(positions, rewards, costs, dt, radius=10.0, x_limit=3.0):
    x, y = positions[1:, 0], positions[1:, 1]
    vx, vy = np.diff(positions[:, 0]) / dt, np.diff(positions[:, 1]) / dt
    expected = (-y * vx + x * vy) / (1.0 + np.abs(np.hypot(x, y) - radius))
    assert_allclose(rewards, expected, rtol=1e-4, atol=1e-4)
    assert_array_equal(costs, (np.abs(x) > x_limit).astype(np.float64))


def test_ant_circle_reward_and_cost_from_observations(ant_circle):
    ac = ant_circle
    dt = float(ac.env.dt)
    obs, state = ac.reset_env(jax.random.key(70), ac.params)
    # The torso position is kept in the observation.
    assert_array_equal(np.asarray(obs[:2]), np.asarray(state.brax.pipeline_state.x.pos[0, :2]))
    positions, rewards, costs = _ant_circle_rollout(ac, state, ac.params, seed=71)
    _check_ant_circle(positions, rewards, costs, dt)
    assert np.abs(rewards).max() > 1e-3  # the ant actually moves

    # A threshold inside the range of |x| the ant visits gives both cost values (x_limit is
    # a traced param, so this reuses the compiled step).
    x_limit = float(np.median(np.abs(positions[1:, 0])))
    params = ac.params.replace(x_limit=jnp.float32(x_limit))
    positions, rewards, costs = _ant_circle_rollout(ac, state, params, seed=71)
    _check_ant_circle(positions, rewards, costs, dt, x_limit=np.float32(x_limit))
    assert 0 < costs.mean() < 1


@pytest.mark.parametrize("shift", [(5.0, -9.0), (-5.0, 9.5)])
def test_ant_circle_outside_strip_costs_one(ant_circle, shift):
    ac = ant_circle
    _, state = ac.reset_env(jax.random.key(72), ac.params)
    ps = state.brax.pipeline_state
    q = ps.q.at[:2].add(jnp.asarray(shift))
    shifted = ac.pipeline_init(q, ps.qd)
    state = state.replace(brax=state.brax.replace(pipeline_state=shifted))
    positions, rewards, costs = _ant_circle_rollout(ac, state, ac.params, seed=73)
    _check_ant_circle(positions, rewards, costs, float(ac.env.dt))
    assert costs.mean() > 0.5


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


def test_registry_unknown_name_lists_registered():
    with pytest.raises(ValueError) as err:
        jaxsafe_envs.make("IcyPond-v9")
    message = str(err.value)
    assert "IcyPond-v9" in message
    names = [
        "AntCircle-v1",
        "EcoAnt-v1",
        "EcoAnt-v2",
        "IcyLake-v1",
        "PointCircle-v1",
        "PointGoal-v1",
        "PointHazards-v1",
        "PointTrap-v1",
    ]
    for name in names:
        assert name in message
    assert jaxsafe_envs.registered() == sorted(names)


@pytest.mark.parametrize(
    ("name", "bad", "valid"),
    [
        ("IcyLake-v1", "slipperiness", ["is_slippery", "map_name", "slip_cost"]),
        ("PointCircle-v1", "horizon", ["episode_length", "episode_length_range"]),
        # The cost kind is fixed by the version, so it is not a keyword of EcoAnt-v1.
        ("EcoAnt-v1", "cost", ["battery", "noise_scale", "backend", "episode_length"]),
        ("AntCircle-v1", "radius_", ["radius", "x_limit"]),
    ],
)
def test_registry_unknown_keyword_lists_valid(name, bad, valid):
    with pytest.raises(ValueError) as err:
        jaxsafe_envs.make(name, **{bad: 1})
    message = str(err.value)
    assert bad in message
    for keyword in valid:
        assert keyword in message
    assert set(valid) <= set(jaxsafe_envs.keywords(name))
    assert bad not in jaxsafe_envs.keywords(name)
