"""Benchmarks: ``python -m ptrim.bench rollout`` (more subcommands join as the project grows).

Speed targets are checked here, never in unit tests. Every report names the machine it ran on
(machines of the same kind differ ~3× in simulator speed).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import time
from pathlib import Path

import numpy as np

HOLD_STILL = np.array([0, 0, 0, 0, 0, 0, -1], np.float32)


def machine() -> dict:
    import os

    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def _bare(env, n_steps: int, render_every: int | None) -> float:
    """Steps/s of the simulator alone: reset, then step, rendering every ``render_every`` steps
    (or never) — the same work a rollout does, without the rollout."""
    t0 = time.perf_counter()
    env.reset(0)
    for t in range(n_steps):
        if render_every and t % render_every == 0:
            env.observe()
        env.step(HOLD_STILL)
    return n_steps / (time.perf_counter() - t0)


def bench_rollout(args: argparse.Namespace) -> dict:
    from ptrim.envs.batch import EnvBatch
    from ptrim.envs.libero import LiberoEnv
    from ptrim.models.scripted import ConstantPolicy
    from ptrim.rollout import Job, rollout

    H = max(args.exec_lens)
    env = LiberoEnv(
        args.suite,
        args.task,
        image_size=args.image_size,
        cameras=("agentview",),
        max_steps=args.steps,
    )
    batch = EnvBatch([functools.partial(lambda e: e, env)])
    policy = ConstantPolicy(H, HOLD_STILL)
    _bare(env, 50, 8)  # warm-up (numba, caches)

    raw = np.median([_bare(env, args.steps, None) for _ in range(args.repeats)])
    rows = []
    for h in args.exec_lens:
        bare, roll, book = [], [], []
        for r in range(args.repeats):  # interleave so machine noise hits both alike
            bare.append(_bare(env, args.steps, h))
            t0 = time.perf_counter()
            [ep] = rollout(policy, batch, [Job(0, 0, h, r)], sample=False)
            wall = time.perf_counter() - t0
            roll.append(ep.steps / wall)
            # the rollout's own cost: wall time outside simulator, rendering and the policy
            book.append(1 - (ep.env_time_s + ep.render_time_s + ep.policy_time_s) / wall)
        b, r = float(np.median(bare)), float(np.median(roll))
        rows.append(
            {
                "exec_len": h,
                "bare_steps_per_s": b,
                "rollout_steps_per_s": r,
                "ratio": r / b,
                "overhead_pct": 100 * (1 - r / b),
                "bookkeeping_pct": 100 * float(np.median(book)),
            }
        )
    env.close()
    return {
        "benchmark": "rollout",
        "machine": machine(),
        "suite": args.suite,
        "task": args.task,
        "image_size": args.image_size,
        "camera": "agentview",
        "episode_steps": args.steps,
        "repeats": args.repeats,
        "raw_sim_steps_per_s": float(raw),
        "by_exec_len": rows,
        "target": "h=8, one 128² camera: >= 35 rollout steps/s, overhead <= 10 %",
    }


def _print_rollout(res: dict) -> None:
    m = res["machine"]
    print(f"machine: {m['cpu']} ({m['cores']} cores, torch threads {m['torch_threads']})")
    print(
        f"{res['suite']} task {res['task']}, {res['image_size']}² {res['camera']} camera, "
        f"{res['episode_steps']} steps/episode, median of {res['repeats']}"
    )
    print(f"raw simulator (no policy, no rendering): {res['raw_sim_steps_per_s']:.1f} steps/s")
    print(
        f"{'h':>4} {'bare env+render':>16} {'rollout':>10} {'ratio':>7} {'overhead':>9}"
        f" {'bookkeeping':>12}"
    )
    for r in res["by_exec_len"]:
        bare, roll = r["bare_steps_per_s"], r["rollout_steps_per_s"]
        print(
            f"{r['exec_len']:>4} {bare:>12.1f} s/s {roll:>6.1f} s/s"
            f" {r['ratio']:>7.3f} {r['overhead_pct']:>8.1f}% {r['bookkeeping_pct']:>11.2f}%"
        )
    print("overhead: 1 - rollout/bare steps/s (noisy on a shared machine); bookkeeping: share of")
    print(
        "rollout wall time spent outside simulator, rendering and policy (the rollout's own cost)"
    )
    print(f"target: {res['target']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ptrim.bench", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("rollout", help="simulator vs chunked-rollout steps/s at several h")
    p.add_argument("--suite", default="libero_object")
    p.add_argument("--task", type=int, default=0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--exec-lens", type=int, nargs="+", default=[1, 5, 8, 15])
    p.add_argument("--steps", type=int, default=200, help="steps per episode")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    res = bench_rollout(args)
    _print_rollout(res)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
