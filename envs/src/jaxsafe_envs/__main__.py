"""``python -m jaxsafe_envs``: a random-policy tour of every registered environment.

Steps ``--num-envs`` copies of each environment for ``--steps`` steps under one
``jit(scan(vmap(step)))`` and prints, per environment, the throughput and the mean return,
cost and length of the episodes that finished.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxsafe_envs.registry import make, registered


def random_rollout(env, params, key: jax.Array, num_envs: int, num_steps: int) -> dict:
    """Totals of the episodes finished by a uniformly random policy."""
    key_reset, key_steps = jax.random.split(key)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key_reset, num_envs), params)
    zeros = jnp.zeros(num_envs)
    action_space = env.action_space(params)

    def one_step(carry, key):
        state, running_return, running_cost, length, totals = carry
        key_action, key_step = jax.random.split(key)
        action = jax.vmap(action_space.sample)(jax.random.split(key_action, num_envs))
        _, state, reward, terminated, truncated, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(key_step, num_envs), state, action, params
        )
        running_return, running_cost = running_return + reward, running_cost + info["cost"]
        length = length + 1
        done = terminated | truncated
        totals = {
            "episodes": totals["episodes"] + done.sum(),
            "return": totals["return"] + jnp.sum(running_return * done),
            "cost": totals["cost"] + jnp.sum(running_cost * done),
            "length": totals["length"] + jnp.sum(length * done),
        }
        keep = 1.0 - done
        carry = (state, running_return * keep, running_cost * keep, length * keep, totals)
        return carry, None

    totals = {"episodes": 0, "return": 0.0, "cost": 0.0, "length": 0.0}
    carry = (state, zeros, zeros, zeros, jax.tree.map(jnp.asarray, totals))
    (*_, totals), _ = jax.lax.scan(one_step, carry, jax.random.split(key_steps, num_steps))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=registered(), choices=registered())
    parser.add_argument("--num-envs", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"random policy, {args.num_envs} envs x {args.steps} steps on {jax.devices()[0]}")
    print(
        f"{'env':16s} {'steps/s':>10s} {'episodes':>9s} {'return':>9s} {'cost':>9s} {'length':>7s}"
    )
    for name in args.envs:
        env, params = make(name)
        rollout = jax.jit(random_rollout, static_argnums=(0, 3, 4))
        key = jax.random.key(args.seed)
        jax.block_until_ready(rollout(env, params, key, args.num_envs, args.steps))
        start = time.perf_counter()
        totals = jax.device_get(rollout(env, params, key, args.num_envs, args.steps))
        seconds = time.perf_counter() - start
        episodes = max(int(totals["episodes"]), 1)
        print(
            f"{name:16s} {args.num_envs * args.steps / seconds:10.0f} {int(totals['episodes']):9d}"
            f" {totals['return'] / episodes:9.2f} {totals['cost'] / episodes:9.2f}"
            f" {totals['length'] / episodes:7.1f}"
        )


if __name__ == "__main__":
    main()
