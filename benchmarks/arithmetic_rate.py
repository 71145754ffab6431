"""Arithmetic rate: how close a PPO minibatch step comes to this device's matmul rate.

An on-policy update on the CPU is mostly minibatch steps (``train_throughput.py``,
``update_split.py``). Whether it can still be made several times faster depends on what bounds
those steps: per-kernel and loop overheads, which fusion or fewer programs would remove, or the
arithmetic of its small matrices. This script measures, at an environment preset's shapes, each
row as ``iterations`` of its computation inside one jitted ``lax.scan`` (so that one call's
dispatch is spread over them), with XLA's own cost analysis of one iteration for its FLOPs:

- **minibatch step**: one gradient step of PPO-Lagrangian's three networks (Gaussian policy with
  its clipped surrogate and entropy, reward and cost critics with their squared errors; Adam with
  a global-norm clip) on one minibatch, ``num_epochs × num_minibatches`` times (one update's).
  It leaves out the rollout, GAE and the minibatch shuffle, and models the preset without
  ``algo.cost_shaping`` (whose shaped runs fit a third critic);
- **dense layer**: each layer shape of those networks, hidden layers and output heads, alone:
  ``tanh(x W)`` forward and its gradients for ``x`` and ``W`` (what a minibatch step does per
  layer), the same number of times;
- **square matmul**: ``A A`` for ``A`` of n × n, the device's sustained float32 matmul rate.

The step's GFLOP/s against its layers' and against the square matmul's tells whether its time
goes to overheads between kernels (the step well below its layers) or to the small layers
themselves (the step as fast as they are, far below the matmul rate).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

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
    """XLA's cost-analysis FLOPs of a compiled program."""
    analysis = compiled.cost_analysis()
    return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]


def _scanned(
    step: Callable[[Any, None], tuple[Any, None]], carry: Any, iterations: int, repeats: int
) -> tuple[float, float]:
    """FLOPs of one ``step`` (cost analysis) and seconds of ``iterations`` of them in one
    jitted ``lax.scan``, the fastest of ``repeats`` warm calls."""
    flops = _flops(jax.jit(lambda carry: step(carry, None)[0]).lower(carry).compile())
    loop = jax.jit(lambda carry: jax.lax.scan(step, carry, None, length=iterations)[0])
    return flops, _fastest(lambda: loop(carry), repeats)


def minibatch_step(
    env_name: str, key: jax.Array, repeats: int
) -> tuple[dict[str, object], list[tuple[int, int, int]], int]:
    """One update's minibatch steps of PPO-Lagrangian's three networks at ``env_name``'s preset
    (a continuous-action environment: the policy is Gaussian).

    Returns:
        The row, the networks' distinct layer shapes ``(rows, inputs, outputs)`` (hidden layers
        and output heads) and the number of steps.
    """
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

    steps = algo.num_epochs * algo.num_minibatches
    flops, seconds = _scanned(step, (networks, optimizer.init(networks)), steps, repeats)
    sizes = (observation_size, *algo.hidden_sizes)
    hidden_layers = zip(sizes[:-1], sizes[1:], strict=True)
    row = {
        "what": f"ppo_lag minibatch step × {steps} ({env_name} preset)",
        "shape": f"{batch} samples, {' → '.join(map(str, sizes))}",
        "flops": flops * steps,
        "seconds": seconds,
    }
    layers = sorted({*hidden_layers, (sizes[-1], action_size), (sizes[-1], 1)})
    return row, [(batch, inputs, outputs) for inputs, outputs in layers], steps


def dense_layer(
    rows: int, inputs: int, outputs: int, iterations: int, repeats: int
) -> dict[str, object]:
    """``tanh(x W)`` of ``x [rows, inputs]`` and ``W [inputs, outputs]``, forward and backward
    (gradients for ``x`` and ``W``), ``iterations`` times; each iteration moves ``x`` and ``W``
    by their gradients so that no iteration can be skipped."""
    x = jnp.full((rows, inputs), 0.1)
    w = jnp.full((inputs, outputs), 0.1)

    def step(carry, _):
        grads = jax.grad(lambda x, w: jnp.tanh(x @ w).sum(), argnums=(0, 1))(*carry)
        return jax.tree.map(lambda value, grad: value - 1e-6 * grad, carry, grads), None

    flops, seconds = _scanned(step, (x, w), iterations, repeats)
    return {
        "what": f"dense layer tanh(x W), forward + backward × {iterations}",
        "shape": f"{rows} × {inputs} × {outputs}",
        "flops": flops * iterations,
        "seconds": seconds,
    }


def square_matmul(n: int, repeats: int) -> dict[str, object]:
    """``A A`` for ``A`` of n × n, one jitted call per timing (large enough to need no scan)."""
    a = jnp.full((n, n), 0.1)
    matmul = jax.jit(lambda a: a @ a)
    return {
        "what": "square matmul A A",
        "shape": f"{n} × {n}",
        "flops": _flops(matmul.lower(a).compile()),
        "seconds": _fastest(lambda: matmul(a), repeats),
    }


def markdown_table(rows: Sequence[dict[str, object]]) -> str:
    """The report's table: per row its FLOPs, time and their ratio."""
    lines = ["| what | shape | MFLOP | ms | GFLOP/s |", "|---|---|---:|---:|---:|"]
    for row in rows:
        flops, seconds = float(row["flops"]), float(row["seconds"])
        lines.append(
            f"| {row['what']} | {row['shape']} | {flops / 1e6:,.1f} | {1e3 * seconds:,.3f} | "
            f"{flops / seconds / 1e9:,.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line, checked; ``report_path`` is where the report goes (``None``: print
    only). A discrete-action ``--env`` is a usage error (exit status 2)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--env",
        default="PointCircle-v1",
        choices=jaxsafe_envs.registered(),
        help="a continuous-action environment whose ppo_lag preset gives the shapes",
    )
    reporting.add_report_flags(parser)
    parser.set_defaults(repeats=20)
    args = parser.parse_args(argv)
    env, params = jaxsafe_envs.make(args.env)
    if not isinstance(env.action_space(params), spaces.Box):
        parser.error(f"--env {args.env}: the policy here is Gaussian; pick a continuous-action env")
    args.report_path = reporting.report_path(parser, args, "arithmetic_rate")
    return args


def main(argv: Sequence[str]) -> None:
    """Measures every row, prints the table and writes it when asked (``--output``/``--append``)."""
    args = parse_args(argv)
    path = args.report_path
    cache = reporting.CompilationCache(args.compilation_cache)
    step, layers, steps = minibatch_step(args.env, jax.random.PRNGKey(args.seed), args.repeats)
    rows = [
        step,
        *(dense_layer(*layer, steps, args.repeats) for layer in layers),
        *(square_matmul(n, args.repeats) for n in MATMUL_SIZES),
    ]
    kept, kept_notes, commands = reporting.load_report(path) if args.append else ([], [], [])
    rows = list({(row["what"], row["shape"]): row for row in [*kept, *rows]}.values())
    command = reporting.command_line(__file__, argv)
    notes = [
        "MFLOP: XLA's cost analysis of one iteration times the iterations; ms: the iterations in "
        "one jitted lax.scan (the square matmuls: one call), the fastest of --repeats calls. "
        "minibatch step: no rollout, GAE or shuffle, and no cost-shaping critic. dense layer: "
        "tanh(x W) forward and both gradients, as many times as the update's minibatch steps.",
    ]
    notes = list(dict.fromkeys([*kept_notes, *notes, *cache.notes(command), *args.note]))
    reporting.publish(
        path,
        "Arithmetic rate",
        reporting.device_header(),
        [*commands, command],
        markdown_table(rows),
        notes,
        rows,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
