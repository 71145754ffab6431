"""Arithmetic rate: how close a PPO minibatch step comes to this device's matmul rate.

An on-policy update on the CPU is mostly minibatch steps (``train_throughput.py``,
``update_split.py``). Whether it can still be made several times faster depends on what bounds
those steps: per-kernel and loop overheads, which fusion or fewer programs would remove, or the
arithmetic itself. This script measures, at an environment preset's shapes:

- **minibatch step**: one gradient step of PPO-Lagrangian's three networks (Gaussian policy with
  its clipped surrogate and entropy, reward and cost critics with their squared errors; Adam with
  a global-norm clip) on one minibatch. Its FLOPs are XLA's own cost analysis of the compiled
  step; its time is that of ``num_epochs × num_minibatches`` steps (one update's) in one
  ``lax.scan``, which leaves out the rollout, GAE and the minibatch shuffle;
- **dense layers**: each of the networks' layer shapes alone (``tanh(x W)``), one jitted call;
- **square matmul**: ``A A`` for ``A`` of n × n, the device's sustained float32 matmul rate.

GFLOP/s of the step against the matmul rate tells how much arithmetic throughput is left.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import optax
import reporting
from gymnax.environments import spaces

import jaxsafe_envs
from jaxsafe.config import make_config
from jaxsafe.networks import GaussianPolicy, ValueNetwork

MATMUL_SIZES = (256, 512, 2048)


def _fastest(call: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` warm calls (one warm-up call first)."""
    jax.block_until_ready(call())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return min(times)


def _flops(compiled) -> float:
    analysis = compiled.cost_analysis()
    return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]


def minibatch_step(env_name: str, key: jax.Array, repeats: int) -> dict[str, object]:
    """One update's minibatch steps of PPO-Lagrangian's three networks at ``env_name``'s preset
    (a continuous-action environment: the policy is Gaussian)."""
    algo = make_config("ppo_lag", env_name).algo
    env, params = jaxsafe_envs.make(env_name)
    observation_size = math.prod(env.observation_space(params).shape)
    action_size = math.prod(env.action_space(params).shape)
    batch = algo.num_envs * algo.num_steps // algo.num_minibatches
    policy = GaussianPolicy(action_size, tuple(algo.hidden_sizes))
    critic = ValueNetwork(tuple(algo.hidden_sizes))
    keys = jax.random.split(key, 4)
    observation = jax.random.normal(keys[0], (batch, observation_size))
    action = jax.random.normal(keys[1], (batch, action_size))
    advantage, target = jax.random.normal(keys[2], (2, batch))
    networks = {
        "policy": policy.init(keys[3], observation),
        "value": critic.init(keys[3], observation),
        "cost_value": critic.init(keys[3], observation),
    }
    optimizer = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(3e-4))
    old_log_prob = policy.apply(networks["policy"], observation).log_prob(action)

    def loss(networks):
        distribution = policy.apply(networks["policy"], observation)
        ratio = jnp.exp(distribution.log_prob(action) - old_log_prob)
        clipped = jnp.clip(ratio, 0.8, 1.2)
        surrogate = jnp.minimum(ratio * advantage, clipped * advantage).mean()
        critics = sum(
            0.5 * jnp.square(critic.apply(networks[name], observation) - target).mean()
            for name in ("value", "cost_value")
        )
        return -surrogate - 0.01 * distribution.entropy().mean() + critics

    def step(carry, _):
        networks, opt_state = carry
        updates, opt_state = optimizer.update(jax.grad(loss)(networks), opt_state, networks)
        return (optax.apply_updates(networks, updates), opt_state), None

    carry = (networks, optimizer.init(networks))
    flops = _flops(jax.jit(lambda carry: step(carry, None)[0]).lower(carry).compile())
    steps = algo.num_epochs * algo.num_minibatches
    update = jax.jit(lambda carry: jax.lax.scan(step, carry, None, length=steps)[0])
    seconds = _fastest(lambda: update(carry), repeats)
    sizes = (observation_size, *algo.hidden_sizes)
    return {
        "what": f"ppo_lag minibatch step × {steps} ({env_name} preset)",
        "shape": f"{batch} samples, {' → '.join(map(str, sizes))}",
        "flops": flops * steps,
        "seconds": seconds,
        "layers": list(zip((batch,) * len(sizes[:-1]), sizes[:-1], sizes[1:], strict=True)),
    }


def dense_layer(rows: int, inputs: int, outputs: int, repeats: int) -> dict[str, object]:
    x, w = jnp.ones((rows, inputs)), jnp.ones((inputs, outputs))
    layer = jax.jit(lambda x, w: jnp.tanh(x @ w))
    return {
        "what": "dense layer tanh(x W)",
        "shape": f"{rows} × {inputs} × {outputs}",
        "flops": 2.0 * rows * inputs * outputs,
        "seconds": _fastest(lambda: layer(x, w), repeats),
    }


def square_matmul(n: int, repeats: int) -> dict[str, object]:
    a = jnp.ones((n, n))
    matmul = jax.jit(lambda a: a @ a)
    return {
        "what": "square matmul A A",
        "shape": f"{n} × {n}",
        "flops": 2.0 * n**3,
        "seconds": _fastest(lambda: matmul(a), repeats),
    }


def markdown_table(rows: Sequence[dict[str, object]]) -> str:
    lines = ["| what | shape | MFLOP | ms | GFLOP/s |", "|---|---|---:|---:|---:|"]
    for row in rows:
        flops, seconds = float(row["flops"]), float(row["seconds"])
        lines.append(
            f"| {row['what']} | {row['shape']} | {flops / 1e6:,.1f} | {1e3 * seconds:,.3f} | "
            f"{flops / seconds / 1e9:,.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PointCircle-v1", choices=jaxsafe_envs.registered())
    reporting.add_report_flags(parser)
    parser.set_defaults(repeats=20)
    return parser, parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    parser, args = parse_args(argv)
    env, params = jaxsafe_envs.make(args.env)
    if not isinstance(env.action_space(params), spaces.Box):
        parser.error(f"--env {args.env}: the policy here is Gaussian; pick a continuous-action env")
    path = reporting.report_path(parser, args, "arithmetic_rate")
    step = minibatch_step(args.env, jax.random.PRNGKey(args.seed), args.repeats)
    rows = [
        step,
        *(dense_layer(*shape, args.repeats) for shape in step.pop("layers")),
        *(square_matmul(n, args.repeats) for n in MATMUL_SIZES),
    ]
    kept, kept_notes, commands = reporting.load_report(path) if args.append else ([], [], [])
    rows = list({(row["what"], row["shape"]): row for row in [*kept, *rows]}.values())
    notes = [
        "minibatch step: FLOPs from XLA's cost analysis of one compiled step, times the steps of "
        "one update; ms: those steps in one lax.scan (no rollout, GAE or shuffle), the fastest "
        "of --repeats calls. Dense layers and matmuls: FLOPs 2·m·k·n, one jitted call each "
        "(dispatch included), the fastest of --repeats.",
    ]
    notes = list(dict.fromkeys([*kept_notes, *notes, *args.note]))
    reporting.publish(
        path,
        "Arithmetic rate",
        reporting.device_header(),
        [*commands, reporting.command_line(__file__, argv)],
        markdown_table(rows),
        notes,
        rows,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
