"""Benchmarks: ``python -m ptrim.bench rollout``, ``… models``, ``… visuals`` and ``… scale``.

Speed targets are checked here, never in unit tests. Every report names the machine it ran on
(machines of the same kind differ ~3× in simulator speed).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np

from ptrim.envs.libero_setup import SUITES

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
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
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
        visual_meshes=args.visual_meshes,
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
        "visual_meshes": args.visual_meshes,
        "episode_steps": args.steps,
        "repeats": args.repeats,
        "raw_sim_steps_per_s": float(raw),
        "by_exec_len": rows,
        "target": "h=8, one 128² camera: >= 35 rollout steps/s, overhead <= 10 %",
    }


def _machine_line(m: dict) -> str:
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    return f"machine: {m['cpu']} ({m['cores']} cores, torch threads {m['torch_threads']}){gpu}"


def _print_rollout(res: dict) -> None:
    print(_machine_line(res["machine"]))
    print(
        f"{res['suite']} task {res['task']}, {res['image_size']}² {res['camera']} camera "
        f"({res['visual_meshes']} visual meshes), {res['episode_steps']} steps/episode, "
        f"median of {res['repeats']}"
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


BASE_EXEC = {"pi05": (20, 5), "oft": (8, 8), "gr00t": (16, 5), "openvla": (1, 1)}  # (H, h)


def _synthetic(B: int, image_size: int, H: int, seed: int = 0) -> dict:
    """A batch shaped like :func:`ptrim.data.collate`'s (random images and actions)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    images = {
        c: torch.randint(0, 256, (B, image_size, image_size, 3), generator=g, dtype=torch.uint8)
        for c in ("agentview", "wrist")
    }
    return {
        "images": images,
        "proprio": torch.randn(B, 8, generator=g),
        "instruction": ["pick up the alphabet soup and place it in the basket"] * B,
        "actions": torch.rand(B, H, 7, generator=g) * 2 - 1,
        "action_mask": torch.ones(B, H, dtype=torch.bool),
    }


def _timed(fn, repeats: int, device: str) -> float:
    """Median wall seconds of ``fn()`` after two warm-up calls (the first calls at a new shape
    pay one-off kernel and allocator set-up), CUDA synchronised."""
    import torch

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    fn()
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_models(args: argparse.Namespace) -> dict:
    """Per family: parameters, plan latency (batch 1 and 16), BC step (batch 32), RL step."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for family in args.families:
        rows.append(_bench_family(family, args))
        print(_model_row(rows[-1]), flush=True)
    return {
        "benchmark": "models",
        "machine": machine(),
        "device": args.device,
        "preset": args.preset,
        "image_size": args.image_size,
        "cameras": ["agentview", "wrist"],
        "bf16": args.bf16,
        "repeats": args.repeats,
        "families": rows,
    }


def _bench_family(family: str, args: argparse.Namespace) -> dict:
    import torch

    from ptrim.models import build

    dev, (H, h) = args.device, BASE_EXEC[family]
    autocast = dict(device_type=dev.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16)
    torch.manual_seed(0)
    model = build(family, args.preset, H, image_size=args.image_size).to(dev)
    gens = [torch.Generator().manual_seed(i) for i in range(16)]
    row = {
        "family": family,
        "plan_horizon": H,
        "exec_len": h,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "rl_params_M": sum(p.numel() for p in model.trainable_in_rl()) / 1e6,
    }
    model.eval()
    for B in (1, 16):
        obs = _synthetic(B, args.image_size, H)

        def plan(obs=obs, B=B):
            with torch.autocast(**autocast):
                model.plan(obs, sample=True, generator=gens[:B])

        row[f"plan_ms_b{B}"] = 1000 * _timed(plan, args.repeats, dev)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = _synthetic(32, args.image_size, H)

    def bc_step():
        with torch.autocast(**autocast):
            loss = model.bc_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()

    row["bc_step_s_b32"] = _timed(bc_step, args.repeats, dev)
    obs = _synthetic(16, args.image_size, H)
    plan16 = model.plan(obs, sample=True, generator=gens)

    def rl_step():
        with torch.autocast(**autocast):
            lp = model.log_prob(obs, plan16, slice(0, h))
        lp.sum().backward()

    row["rl_logprob_backward_s_b16"] = _timed(rl_step, args.repeats, dev)
    return row


MODEL_HEADER = (
    f"{'family':<8} {'H':>3} {'h':>3} {'params':>8} {'RL params':>9} {'plan b1':>9}"
    f" {'plan b16':>9} {'BC b32':>8} {'RL b16':>8}"
)


def _model_row(r: dict) -> str:
    return (
        f"{r['family']:<8} {r['plan_horizon']:>3} {r['exec_len']:>3} {r['params_M']:>7.2f}M"
        f" {r['rl_params_M']:>8.2f}M {r['plan_ms_b1']:>7.0f}ms {r['plan_ms_b16']:>7.0f}ms"
        f" {r['bc_step_s_b32']:>7.2f}s {r['rl_logprob_backward_s_b16']:>7.2f}s"
    )


def _print_models(res: dict) -> None:
    print(_machine_line(res["machine"]))
    print(
        f"preset {res['preset']}, device {res['device']}, two {res['image_size']}² cameras,"
        f" bf16 {res['bf16']}, median of {res['repeats']}"
    )
    print(MODEL_HEADER)
    for r in res["families"]:
        print(_model_row(r))
    print("plan: one sampled plan (VLM + all denoising steps / all tokens); BC: loss, backward,")
    print("AdamW step; RL: log-prob of the executed h actions + backward")


def bench_visuals(args: argparse.Namespace) -> dict:
    """Full vs low-poly visual meshes (:mod:`ptrim.envs.lowpoly`) on the first task of each
    suite: ms per rendered frame, mean absolute pixel difference, optional side-by-side PNGs."""
    from PIL import Image

    from ptrim.envs.libero import CAMERA_NAMES, LiberoEnv

    cams = tuple(CAMERA_NAMES)
    rows = []
    for suite in args.suites:
        envs, frames, ms = {}, {}, {}
        for kind in ("full", "lowpoly"):
            t0 = time.perf_counter()
            env = LiberoEnv(
                suite, args.task, image_size=args.image_size, cameras=cams, visual_meshes=kind
            )
            build_s = time.perf_counter() - t0
            env.reset(0)
            envs[kind] = (env, build_s)
            frames[kind] = env.observe()["images"]
            ms[kind] = {}
        for cam in cams:  # interleave full and lowpoly so machine noise hits both alike
            times = {k: [] for k in envs}
            for _ in range(args.repeats):
                for kind, (env, _) in envs.items():
                    env.make_gl_current()  # robosuite renders in the current GL context
                    t0 = time.perf_counter()
                    env.sim.render(
                        camera_name=CAMERA_NAMES[cam], width=env.image_size, height=env.image_size
                    )
                    times[kind].append(1e3 * (time.perf_counter() - t0))
            for kind in envs:
                ms[kind][cam] = float(np.median(times[kind]))
        same_state = bool(
            np.array_equal(envs["full"][0].get_state(), envs["lowpoly"][0].get_state())
        )
        diff = {
            cam: float(
                np.abs(
                    frames["full"][cam].astype(np.int16) - frames["lowpoly"][cam].astype(np.int16)
                ).mean()
            )
            for cam in cams
        }
        if args.png:
            top = np.concatenate([frames["full"][c] for c in cams], axis=1)
            bottom = np.concatenate([frames["lowpoly"][c] for c in cams], axis=1)
            path = Path(str(args.png).replace("{suite}", suite))
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate([top, bottom], axis=0)).save(path)
        rows.append(
            {
                "suite": suite,
                "task": envs["full"][0].task,
                "ms_per_frame": ms,
                "mean_abs_pixel_diff": diff,
                "build_s": {k: v[1] for k, v in envs.items()},
                "same_state": same_state,
            }
        )
        for env, _ in envs.values():
            env.close()
    return {
        "benchmark": "visuals",
        "machine": machine(),
        "image_size": args.image_size,
        "repeats": args.repeats,
        "suites": rows,
    }


def _print_visuals(res: dict) -> None:
    print(_machine_line(res["machine"]))
    print(f"{res['image_size']}² frames, median of {res['repeats']} renders; |Δ|: mean abs pixel")
    print(
        f"{'suite':16} {'camera':10} {'full ms':>8} {'lowpoly ms':>11} {'speed-up':>9} {'|Δ|':>6}"
    )
    for r in res["suites"]:
        for cam, full in r["ms_per_frame"]["full"].items():
            low = r["ms_per_frame"]["lowpoly"][cam]
            print(
                f"{r['suite']:16} {cam:10} {full:8.1f} {low:11.1f} {full / low:8.1f}x "
                f"{r['mean_abs_pixel_diff'][cam]:6.2f}"
            )
        b = r["build_s"]
        print(
            f"{'':16} build {b['full']:.1f} s / {b['lowpoly']:.1f} s, same state: {r['same_state']}"
        )


# ============================================================================================
# scale: rollout workers and the learner (ptrim.scaling)
# ============================================================================================


def bench_scale(args: argparse.Namespace) -> dict:
    """Rollout throughput (local, Ray with each of ``--workers``), sync and update time, and
    the projection for ``--project`` workers (:mod:`ptrim.scaling`)."""
    import torch

    from ptrim import config, scaling, sft

    if args.threads:
        torch.set_num_threads(args.threads)
    family, exec_len = args.family, BASE_EXEC[args.family][1]
    cfg = config.load(
        args.profile,
        [f"rollout.max_steps={args.steps}", f"models.{family}.preset={args.preset}"],
    )
    bench = cfg.bench(args.suite)
    policy = sft.build_policy(cfg, family, args.suite).eval()
    res: dict = {
        "benchmark": "scale",
        "machine": machine(),
        "profile": cfg.profile,
        "suite": args.suite,
        "family": family,
        "preset": args.preset,
        "exec_len": exec_len,
        "image_size": bench.image_size,
        "cameras": list(bench.cameras),
        "steps_cap": args.steps,
        "learner": _learner_times(policy, cfg, args),
    }
    print(_learner_line(res["learner"]), flush=True)
    if args.learner_only:
        return res
    measured = _throughputs(policy, cfg, args, exec_len)
    res["rollouts"] = [t.row() for t in measured]
    per_chunk = {d: r["update_s"] / r["chunks"] for d, r in res["learner"].items()}
    for path in args.learner_json:
        other = json.loads(Path(path).read_text())
        _check_same_learner(res, other, path)
        if "cuda" in other["learner"]:  # its fp32 GPU update (bf16 and its CPU: in the file)
            r = other["learner"]["cuda"]
            per_chunk[f"cuda ({other['machine']['gpu']})"] = r["update_s"] / r["chunks"]
    ray1 = next(t for t in measured if t.backend == "ray" and t.workers == 1)
    local = measured[0]
    it = scaling.Iteration(
        episodes_per_s_per_worker=ray1.episodes_per_s,
        sync_s=ray1.sync_s,
        update_s_per_chunk=per_chunk,
        chunks_per_episode=local.policy_calls / local.episodes,
        group_size=cfg.rl.group_size,
        groups_per_iter=cfg.rl.groups_per_iter,
    )
    res["iteration"] = dataclasses.asdict(it)
    res["projection"] = scaling.project(it, args.project)
    res["projection_label"] = scaling.PROJECTION_LABEL
    measured_rows = [t.row() | {"kind": "measured"} for t in measured]
    learner_rows = [{"kind": "measured", "learner": d, **r} for d, r in res["learner"].items()]
    scaling.write_csv(measured_rows + learner_rows + res["projection"], args.csv)
    scaling.plot(measured, res["projection"], args.png)
    res["files"] = [str(args.csv), str(args.png)]
    return res


def _learner_times(policy, cfg, args) -> dict:
    """Seconds of one PPO update over ``--update-chunks`` synthetic chunks, per device."""
    import copy

    import torch

    from ptrim import scaling
    from ptrim.grpo import PPOSettings

    bench, out = cfg.bench(args.suite), {}
    devices = args.learner_devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    settings = PPOSettings.of(cfg.rl, args.family)
    for device, precision in itertools.product(devices, args.learner_precisions):
        model = copy.deepcopy(policy).to(device).eval()
        chunks = scaling.synthetic_chunks(
            model,
            args.update_chunks,
            image_size=bench.image_size,
            cameras=bench.cameras,
            proprio_dim=model.spec.proprio_dim,
            exec_len=BASE_EXEC[args.family][1],
            seed=cfg.seed,
        )
        bf16 = dataclasses.replace(settings, bf16=precision == "bf16")
        seconds = scaling.measure_update(model, chunks, bf16, repeats=args.repeats)
        name = device if precision == "fp32" else f"{device} {precision}"
        out[name] = {"chunks": len(chunks), "update_s": seconds, "micro_batch": bf16.micro_batch}
    return out


def _learner_line(learner: dict) -> str:
    return "learner update: " + ", ".join(
        f"{d} {r['update_s']:.2f} s / {r['chunks']} chunks" for d, r in learner.items()
    )


def _check_same_learner(ours: dict, other: dict, path) -> None:
    keys = ("family", "preset", "image_size", "cameras", "exec_len")
    differ = [k for k in keys if ours[k] != other.get(k)]
    if differ:
        raise SystemExit(
            f"--learner-json {path}: measured for a different model ("
            + ", ".join(f"{k} {other.get(k)!r} vs {ours[k]!r}" for k in differ)
            + "); rerun it with the same --family, --preset and --suite"
        )


def _throughputs(policy, cfg, args, exec_len: int) -> list:
    """Steady-state throughput of the local backend and of Ray with each ``--workers``."""
    from ptrim import evaluate, scaling
    from ptrim.backend import LocalRollouts
    from ptrim.config import RayConfig

    task = cfg.bench(args.suite).task_list(args.suite)[args.task]
    env_factory = functools.partial(evaluate.make_env, cfg, args.suite, seed=cfg.seed)
    work = scaling.groups_work(task, args.groups, args.group_size, exec_len, cfg.seed)
    out = []
    with LocalRollouts(env_factory, 1, "inline", max_envs=2) as local:
        warm = scaling.groups_work(task, 1, 1, exec_len, cfg.seed + 10_000)
        out.append(
            scaling.measure_rollouts(local, policy, work, backend="local", workers=1, warmup=warm)
        )
    print(_throughput_line(out[-1]), flush=True)
    from ptrim.ray_backend import RayRollouts

    for n in args.workers:
        ray_cfg = RayConfig(address=args.address, num_workers=n, envs_per_worker=1)
        with RayRollouts(env_factory, ray_cfg, max_envs=2) as ray:
            warm = scaling.groups_work(task, n, 1, exec_len, cfg.seed + 10_000)
            out.append(
                scaling.measure_rollouts(ray, policy, work, backend="ray", workers=n, warmup=warm)
            )
        print(_throughput_line(out[-1]), flush=True)
    return out


def _throughput_line(t) -> str:
    return (
        f"{t.backend:<6} {t.workers:>2} worker(s): {t.episodes} episodes, {t.env_steps} steps in"
        f" {t.wall_s:.1f} s = {t.episodes_per_s:.3f} episodes/s, {t.steps_per_s:.1f} steps/s;"
        f" sync {1000 * t.sync_s:.0f} ms"
    )


def _print_scale(res: dict) -> None:
    print(_machine_line(res["machine"]))
    print(
        f"{res['family']} ({res['preset']}, h = {res['exec_len']}) on {res['suite']},"
        f" {res['image_size']}² {'+'.join(res['cameras'])}, episodes capped at"
        f" {res['steps_cap']} steps"
    )
    print(_learner_line(res["learner"]))
    if "rollouts" not in res:
        return
    rows = {(r["backend"], r["workers"]): r for r in res["rollouts"]}
    for r in res["rollouts"]:
        print(
            f"  {r['backend']:<6} {r['workers']:>2} worker(s):"
            f" {r['episodes_per_s']:.3f} episodes/s, {r['steps_per_s']:.1f} steps/s"
        )
    if ("ray", 1) in rows and ("ray", 2) in rows:
        eff = rows[("ray", 2)]["episodes_per_s"] / (2 * rows[("ray", 1)]["episodes_per_s"])
        print(f"  2-worker efficiency (eps/s of 2 ÷ 2 × eps/s of 1): {eff:.2f}")
    it = res["iteration"]
    print(
        f"iteration of the profile: {it['groups_per_iter']} groups × G = {it['group_size']},"
        f" {it['chunks_per_episode']:.1f} chunks per episode"
    )
    print(f"{res['projection_label']}:")
    print(
        f"{'workers':>7} {'batch':<10} {'learner':<30} {'episodes':>8} {'rollout':>9}"
        f" {'update':>8} {'iteration':>9}"
    )
    for r in res["projection"]:
        print(
            f"{r['workers']:>7} {r['batch']:<10} {r['learner']:<30} {r['episodes']:>8}"
            f" {r['rollout_s']:>8.1f}s {r['update_s']:>7.1f}s {r['iteration_s']:>8.1f}s"
        )
    print("written:", ", ".join(res["files"]))


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
    p.add_argument(
        "--visual-meshes",
        default="lowpoly",
        choices=["full", "lowpoly"],
        help="LIBERO's meshes or decimated visual-only ones (same physics)",
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    p = sub.add_parser("models", help="each VLA family: size, plan latency, BC and RL step time")
    p.add_argument("--families", nargs="+", default=list(BASE_EXEC), choices=list(BASE_EXEC))
    p.add_argument("--preset", default="small", choices=["micro", "small", "base"])
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (check the CPU supports it)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the results here")
    p = sub.add_parser("visuals", help="full vs low-poly visual meshes: render ms, pixel change")
    p.add_argument("--suites", nargs="+", default=list(SUITES))
    p.add_argument("--task", type=int, default=0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--png", help="side-by-side images (full on top), e.g. /tmp/lowpoly_{suite}.png")
    p.add_argument("--json", type=Path, help="also write the results here")
    p = sub.add_parser(
        "scale", help="rollout throughput (local, Ray workers), learner update, projection"
    )
    p.add_argument("--profile", default="default", help="params.yaml profile (its rl batch)")
    p.add_argument("--suite", default="libero_object")
    p.add_argument("--task", type=int, default=0, help="task index in the profile's suite")
    p.add_argument("--family", default="pi05", choices=list(BASE_EXEC))
    p.add_argument("--preset", default="small", choices=["micro", "small", "base"])
    p.add_argument("--steps", type=int, default=100, help="episode step cap (rollout.max_steps)")
    p.add_argument("--groups", type=int, default=4, help="groups in the timed batch")
    p.add_argument("--group-size", type=int, default=4)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts")
    p.add_argument("--address", default=None, help="an existing Ray cluster (default: local)")
    p.add_argument("--update-chunks", type=int, default=128, help="chunks in the timed update")
    p.add_argument("--learner-devices", nargs="+", help="default: cpu, and cuda if present")
    p.add_argument("--learner-precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    p.add_argument(
        "--learner-json",
        nargs="*",
        default=[],
        help="another machine's `scale --learner-only --json` (e.g. a GPU's) for the projection",
    )
    p.add_argument("--learner-only", action="store_true", help="only the update (no simulator)")
    p.add_argument("--project", type=int, nargs="+", default=[1, 2, 8, 32, 128])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--csv", type=Path, default=Path("paper_figures/scaling.csv"))
    p.add_argument("--png", type=Path, default=Path("paper_figures/scaling.png"))
    p.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.what == "scale":
        res = bench_scale(args)
        print()
        _print_scale(res)
    elif args.what == "rollout":
        res = bench_rollout(args)
        _print_rollout(res)
    elif args.what == "visuals":
        res = bench_visuals(args)
        _print_visuals(res)
    else:
        print(MODEL_HEADER)
        res = bench_models(args)
        print()
        _print_models(res)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
