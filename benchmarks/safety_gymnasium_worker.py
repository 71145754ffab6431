"""Times Safety-Gymnasium vector environments for ``env_throughput.py``, in their own Python.

Safety-Gymnasium 1.0.0 pins gymnasium 0.28.1 (jaxsafe needs ≥ 1.0), mujoco 2.3.3, numpy < 1.24
and pygame 2.1.0, and does not import on Python 3.11, so it lives in a venv of its own (see
``requirements-safety-gymnasium.txt``) and ``env_throughput.py`` drives this script there through
a pipe. It imports nothing from jaxsafe.

Protocol: the script builds ``num_envs`` copies of ``env_id`` as one vector environment, resets
them and prints one JSON line ``{"setup_s": ...}``. Each line ``K`` it then reads runs K vector
steps with uniformly random actions (numpy, drawn inside the timed loop as the JAX benchmark
draws its actions inside the scan) and prints ``{"seconds": ...}``; the vector environment resets
finished episodes itself. ``quit`` or end of input stops it.

Modes:

- ``sync``: ``safety_gymnasium.vector.SafetySyncVectorEnv``, every env in this process.
- ``async``: ``safety_gymnasium.vector.SafetyAsyncVectorEnv``, one process per env (Gymnasium's
  design: sensible only while N is at most the number of cores).
- ``pool``: ``workers`` processes, each stepping its share of the N envs as a
  ``SafetySyncVectorEnv``; every step sends each process its actions and gathers observations,
  rewards, costs and flags back over a pipe (what a learner needs each step).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time

import numpy as np


def _sync(env_id: str, num_envs: int, seed: int):
    import safety_gymnasium

    env = safety_gymnasium.vector.make(env_id, num_envs=num_envs, asynchronous=False)
    env.reset(seed=seed)
    return env


def _pool_worker(connection, env_id: str, num_envs: int, seed: int) -> None:
    env = _sync(env_id, num_envs, seed)
    connection.send("ready")
    while True:
        actions = connection.recv()
        if actions is None:
            break
        obs, reward, cost, terminated, truncated, _ = env.step(actions)
        connection.send((obs, reward, cost, terminated, truncated))
    env.close()


class Pool:
    """``workers`` processes sharing ``num_envs`` environments, stepped in lockstep."""

    def __init__(self, env_id: str, num_envs: int, workers: int, seed: int):
        context = multiprocessing.get_context("fork")
        shares = np.array_split(np.arange(num_envs), min(workers, num_envs))
        self.slices, self.connections, self.processes = [], [], []
        for i, share in enumerate(shares):
            parent, child = context.Pipe()
            process = context.Process(
                target=_pool_worker, args=(child, env_id, len(share), seed + i), daemon=True
            )
            process.start()
            self.slices.append(slice(share[0], share[-1] + 1))
            self.connections.append(parent)
            self.processes.append(process)
        for connection in self.connections:
            assert connection.recv() == "ready"

    def step(self, actions: np.ndarray):
        for connection, part in zip(self.connections, self.slices, strict=True):
            connection.send(actions[part])
        results = [connection.recv() for connection in self.connections]
        return tuple(np.concatenate(parts) for parts in zip(*results, strict=True))

    def close(self) -> None:
        for connection in self.connections:
            connection.send(None)
        for process in self.processes:
            process.join()


def build(env_id: str, num_envs: int, mode: str, workers: int, seed: int):
    """The vector environment of ``mode``, reset."""
    if mode == "sync":
        return _sync(env_id, num_envs, seed)
    if mode == "async":
        import safety_gymnasium

        env = safety_gymnasium.vector.make(env_id, num_envs=num_envs, asynchronous=True)
        env.reset(seed=seed)
        return env
    return Pool(env_id, num_envs, workers, seed)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("env_id")
    parser.add_argument("--num-envs", type=int, required=True)
    parser.add_argument("--mode", choices=("sync", "async", "pool"), required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    env = build(args.env_id, args.num_envs, args.mode, args.workers, args.seed)
    print(json.dumps({"setup_s": time.perf_counter() - start}), flush=True)
    rng = np.random.default_rng(args.seed)
    checksum = 0.0
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        steps = int(line)
        start = time.perf_counter()
        for _ in range(steps):
            actions = rng.uniform(-1.0, 1.0, (args.num_envs, 2))
            obs, reward, cost, *_ = env.step(actions)
            checksum += float(obs.sum() + reward.sum() + cost.sum())
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "checksum": checksum}), flush=True)
    env.close()


if __name__ == "__main__":
    main(sys.argv[1:])
