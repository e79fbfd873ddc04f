"""Record expert demonstrations: run, keep the successes, render them, write HDF5.

Every benchmark has its expert (:mod:`ptrim.experts.libero`: scripted skills; Meta-World's and
ManiSkill3's shipped planners, wrapped), all with the same redundancy knob; their demos share
one layout (LIBERO's). LIBERO demos keep LIBERO's proprio datasets; the others store what their
adapter's ``proprio()`` returns as ``obs/proprio``.

An expert runs without rendering (physics only), recording the simulator state before every
action. Only successful episodes are rendered afterwards, by restoring each saved state — the
same pixels at about half the cost of rendering failed attempts too. Demonstrations go to one
LIBERO-layout HDF5 file per task (:mod:`ptrim.data`), appended one at a time, so an interrupted
run resumes where it stopped.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ptrim.data import DataError, Demo, DemoFile, DemoWriter

WAIT_AFTER_EXPERT = 25  # steps an expert may hold still after its last move for success to register


class UnsupportedTask(RuntimeError):
    """The expert has no recipe for (part of) this task's goal."""


def episode_seed(*parts: Any) -> int:
    """A stable 32-bit seed from any parts (suite, task, initial state, attempt, base seed)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclass
class ExpertEpisode:
    """What one expert run leaves: per-step simulator states, robot readings and actions."""

    init_state: int
    seed: int
    redundancy: float
    success: bool = False
    steps: int = 0
    actions: list[np.ndarray] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)
    robot: list[dict[str, np.ndarray]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    speed_scale: float = 1.0


def run_expert(env, init_state: int, *, seed: int, redundancy: float = 0.0) -> ExpertEpisode:
    """Run the benchmark's expert from one initial state until success or the step limit."""
    runners = {
        "libero": _run_libero_expert,
        "metaworld": _run_metaworld_expert,
        "maniskill": _run_maniskill_expert,
    }
    return runners[env.benchmark](env, init_state, seed=seed, redundancy=redundancy)


def _run_metaworld_expert(env, init_state: int, *, seed: int, redundancy: float) -> ExpertEpisode:
    """Meta-World's scripted policy, reading the privileged state, redundancy injected."""
    from ptrim.experts.metaworld import MetaWorldExpert

    env.reset(init_state)
    budget = int(0.7 * env.max_steps)
    expert = MetaWorldExpert(env.task, redundancy, np.random.default_rng(seed), budget)
    ep = ExpertEpisode(init_state, seed, redundancy)
    _drive(env, ep, lambda step: expert.act(env.state_obs(), step))
    expert._finish(ep.steps)
    ep.events, ep.speed_scale = expert.events, expert.redundancy.speed_scale
    return ep


def _run_maniskill_expert(env, init_state: int, *, seed: int, redundancy: float) -> ExpertEpisode:
    """ManiSkill3's shipped motion planner, tracked in end-effector space, redundancy injected."""
    from ptrim.experts.maniskill import BUDGET_FRACTION, ManiSkillExpert

    env.reset(init_state)
    budget = int(BUDGET_FRACTION * env.max_steps)
    expert = ManiSkillExpert(env, env.task, redundancy, np.random.default_rng(seed), budget)
    ep = ExpertEpisode(init_state, seed, redundancy)
    _drive(env, ep, expert.act)
    ep.events, ep.speed_scale = expert.events, expert.speed_scale
    return ep


def _drive(env, ep: ExpertEpisode, act: Callable[[int], np.ndarray]) -> None:
    """Step ``env`` with ``act(step)`` until it reports success or reaches its step limit,
    recording each step (:func:`_record_step`) into ``ep``."""
    while ep.steps < env.max_steps:
        action = act(ep.steps)
        _record_step(ep, env, action)
        ep.success = bool(env.step(action))
        ep.steps += 1
        if ep.success:
            break


def _record_step(ep: ExpertEpisode, env, action: np.ndarray) -> None:
    """What a demo keeps of the step about to be taken: state, proprio, action."""
    ep.states.append(env.get_state())
    ep.robot.append({"proprio": np.asarray(env.proprio(), np.float32)})
    ep.actions.append(np.asarray(action, dtype=np.float32))


def _run_libero_expert(env, init_state: int, *, seed: int, redundancy: float) -> ExpertEpisode:
    """The LIBERO expert (scripted skills over the scene's objects)."""
    from ptrim.experts.libero import expert, unsupported
    from ptrim.experts.redundancy import Redundancy
    from ptrim.experts.scene import Scene
    from ptrim.experts.skills import Context, act

    rng = np.random.default_rng(seed)
    env.reset(init_state)
    ctx = Context(scene=Scene(env), rng=rng)
    if (reason := unsupported(ctx.scene)) is not None:
        raise UnsupportedTask(f"{env.suite}/{env.task}: {reason}")
    if redundancy > 0:
        ctx.redundancy = Redundancy(redundancy, rng, budget_steps=int(0.7 * env.max_steps))
    ep = ExpertEpisode(init_state, seed, redundancy)
    plan = expert(ctx)
    finished_at, hold = None, None
    while ep.steps < env.max_steps:
        try:
            action = next(plan)
        except StopIteration:  # the expert is done: hold still while things settle
            if finished_at is None:
                finished_at, hold = ep.steps, ctx.scene.eef_pos.copy()
            if ep.steps - finished_at >= WAIT_AFTER_EXPERT:
                break
            action = act(ctx, hold)
        ep.states.append(env.get_state())
        ep.robot.append(_robot_reading(env))
        ep.actions.append(np.asarray(action, dtype=np.float32))
        success = env.step(action)
        ep.steps += 1
        ctx.step += 1
        if success:
            ep.success = True
            break
    if ctx.redundancy is not None:
        ep.events, ep.speed_scale = ctx.redundancy.events, ctx.redundancy.speed_scale
    return ep


def _robot_reading(env) -> dict[str, np.ndarray]:
    from robosuite.utils.transform_utils import quat2axisangle

    o = env._last
    return {
        "ee_pos": np.asarray(o["robot0_eef_pos"], np.float64),
        "ee_ori": quat2axisangle(np.asarray(o["robot0_eef_quat"])),
        "ee_quat": np.asarray(o["robot0_eef_quat"], np.float64),
        "gripper_states": np.asarray(o["robot0_gripper_qpos"], np.float64),
        "joint_states": np.asarray(o["robot0_joint_pos"], np.float64),
    }


def render_states(env, states: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Images of every saved state, per camera, upright: ``{camera: uint8 [T, S, S, 3]}``."""
    frames: dict[str, list[np.ndarray]] = {c: [] for c in env.cameras}
    for state in states:
        env.set_state(state)
        for cam, img in env.observe()["images"].items():
            frames[cam].append(img)
    return {c: np.stack(f) for c, f in frames.items()}


CAMERA_KEYS = {"agentview": "agentview_rgb", "wrist": "eye_in_hand_rgb"}


def to_demo(
    ep: ExpertEpisode,
    images: dict[str, np.ndarray],
    init_vector: np.ndarray,
    benchmark: str = "libero",
) -> Demo:
    """An :class:`ExpertEpisode` in the LIBERO/robomimic demonstration layout (other
    benchmarks: their proprio as ``obs/proprio`` and ``robot_states``)."""
    T = ep.steps
    r = {k: np.stack([x[k] for x in ep.robot]) for k in ep.robot[0]}
    rewards = np.zeros(T, np.uint8)
    dones = np.zeros(T, np.uint8)
    rewards[-1] = dones[-1] = 1 if ep.success else 0
    obs = {CAMERA_KEYS[c]: img for c, img in images.items()}
    if benchmark == "libero":
        obs |= {
            "ee_pos": r["ee_pos"],
            "ee_ori": r["ee_ori"],
            "ee_states": np.concatenate([r["ee_pos"], r["ee_ori"]], axis=1),
            "gripper_states": r["gripper_states"],
            "joint_states": r["joint_states"],
        }
        robot = np.concatenate([r["gripper_states"], r["ee_pos"], r["ee_quat"]], axis=1)
    else:
        obs["proprio"] = robot = r["proprio"]
    return Demo(
        actions=np.stack(ep.actions),
        states=np.stack(ep.states),
        robot_states=robot,
        rewards=rewards,
        dones=dones,
        obs=obs,
        init_state=init_vector,
        events=ep.events,
        meta={
            "init_index": ep.init_state,
            "seed": ep.seed,
            "redundancy": ep.redundancy,
            "speed_scale": round(ep.speed_scale, 4),
            "expert": f"ptrim.experts.{benchmark}",
        },
    )


def expert_attempt(
    env, base_seed: int, init: int, attempt: int, redundancy: float
) -> ExpertEpisode:
    """Try ``attempt`` (0, 1, …) from one initial state. Each retry halves the redundancy, so a
    task whose minimal solution is close to the step limit still gets a (less redundant)
    demonstration; the level actually used is recorded with the demo."""
    seed = episode_seed(base_seed, env.suite, env.task, init, attempt)
    return run_expert(env, init, seed=seed, redundancy=redundancy * 0.5**attempt)


# ---------------------------------------------------------------------------- one task
@dataclass
class TaskJob:
    """Everything a worker needs to record one task's demonstrations."""

    suite: str
    task: str
    path: Path  # HDF5 file of this task
    init_states: list[int]  # initial states to demonstrate from, in order (one demo each)
    redundancy: float
    seed: int
    image_size: int
    cameras: tuple[str, ...]
    max_steps: int
    settle_steps: int
    attempts: int = 3  # tries per initial state before it is skipped
    visual_meshes: str = "full"  # "full" | "lowpoly" (LiberoEnv): what the images show


def record_task(job: TaskJob, progress=None) -> dict[str, Any]:
    """Record one demonstration per initial state of ``job`` (resuming a partial file) and
    return ``{kept, tried, failed_inits, steps: [...]}``."""
    env = _recording_env(
        job.suite,
        job.task,
        image_size=job.image_size,
        cameras=job.cameras,
        max_steps=job.max_steps,
        settle_steps=job.settle_steps,
        seed=job.seed,
        visual_meshes=job.visual_meshes,
    )
    problem_info = {
        "problem_name": job.suite,
        "domain_name": env.benchmark,
        "language_instruction": env.instruction,
    }
    env_args = {
        "env_name": job.task,
        "type": 1,
        "env_kwargs": {
            "suite": job.suite,
            "task": job.task,
            "camera_heights": job.image_size,
            "camera_widths": job.image_size,
            "cameras": list(job.cameras),
            "control_freq": env.control_hz,
            "settle_steps": job.settle_steps,
            "visual_meshes": job.visual_meshes,
        },
    }
    job.path.parent.mkdir(parents=True, exist_ok=True)
    open_writer = functools.partial(
        DemoWriter,
        job.path,
        problem_info=problem_info,
        env_args=env_args,
        image_convention="opencv",
        attrs=_signature(job),
        append=True,
    )
    try:  # resuming drops a demo a killed run left half-written
        writer = open_writer()
    except DataError:  # recorded with other settings, or unreadable: start this task over
        job.path.unlink()
        writer = open_writer()
    done = {int(m.get("init_index", -1)) for m in writer.metas()}
    stats = {"kept": len(done), "tried": 0, "failed_inits": [], "steps": []}
    with writer:
        for init in job.init_states:
            if init in done:
                if progress is not None:
                    progress.update(1)
                continue
            for attempt in range(job.attempts):
                try:
                    ep = expert_attempt(env, job.seed, init, attempt, job.redundancy)
                except UnsupportedTask as exc:
                    stats["unsupported"] = str(exc)
                    break
                stats["tried"] += 1
                if ep.success:
                    images = render_states(env, ep.states)
                    writer.add(to_demo(ep, images, _initial_state(env, init, ep), env.benchmark))
                    stats["kept"] += 1
                    stats["steps"].append(ep.steps)
                    break
            else:
                stats["failed_inits"].append(init)
            if progress is not None:
                progress.update(1)
    env.close()
    return stats


def _signature(job: TaskJob) -> dict[str, str]:
    """What makes two recordings of a task interchangeable (checked before resuming)."""
    import json

    keys = (
        "redundancy",
        "seed",
        "image_size",
        "cameras",
        "max_steps",
        "settle_steps",
        "attempts",
        "visual_meshes",  # recordings made with other meshes look different: not resumed
    )
    return {"ptrim_recording": json.dumps({k: getattr(job, k) for k in keys}, sort_keys=True)}


def _recording_env(
    suite: str,
    task: str,
    *,
    image_size: int,
    cameras: tuple[str, ...],
    max_steps: int,
    settle_steps: int,
    seed: int,
    visual_meshes: str,
):
    """The adapter of ``suite``'s benchmark (``settle_steps``/``visual_meshes``: LIBERO only)."""
    from ptrim.envs import registry

    bench = registry.benchmark_of(suite)
    kwargs = {"image_size": image_size, "cameras": cameras, "max_steps": max_steps, "seed": seed}
    if bench == "libero":
        from ptrim.envs.libero import LiberoEnv

        return LiberoEnv(
            suite, task, settle_steps=settle_steps, visual_meshes=visual_meshes, **kwargs
        )
    if bench == "metaworld":
        from ptrim.envs.metaworld import MetaWorldEnv

        return MetaWorldEnv(suite, task, **kwargs)
    from ptrim.envs.maniskill import ManiSkillEnv

    return ManiSkillEnv(suite, task, **kwargs)


def _initial_state(env, init: int, ep: ExpertEpisode) -> np.ndarray:
    """The state a demo starts from: LIBERO's shipped vector, else the first recorded state."""
    return env.init_state(init) if env.benchmark == "libero" else ep.states[0]


def _worker_init() -> None:
    os.nice(5)  # demo generation yields to interactive work on the same machine


# ---------------------------------------------------------------------------- expert success
def expert_success(
    suite: str,
    task: str,
    init_states: list[int],
    *,
    redundancy: float,
    attempts: int,
    seed: int,
    max_steps: int,
    settle_steps: int,
    visual_meshes: str = "full",
) -> dict[str, Any]:
    """The expert from each of ``init_states`` (physics only): with ``attempts = 1`` its plain
    success rate; with more, the yield of demonstration recording (:func:`expert_attempt`)."""
    env = _recording_env(
        suite,
        task,
        image_size=32,
        cameras=("agentview",),
        max_steps=max_steps,
        settle_steps=settle_steps,
        seed=seed,
        visual_meshes=visual_meshes,  # nothing is rendered here; passed for consistency
    )
    kept = []
    try:
        for i in init_states:
            for attempt in range(attempts):
                ep = expert_attempt(env, seed, i, attempt, redundancy)
                if ep.success:
                    kept.append(ep)
                    break
    except UnsupportedTask as exc:
        return _unsupported_result(str(exc))
    finally:
        env.close()
    return {
        "success_rate": len(kept) / len(init_states),
        "mean_steps": float(np.mean([e.steps for e in kept])) if kept else None,
        "n": len(init_states),
        "steps": [e.steps for e in kept],
        "events": [len(e.events) for e in kept],
        "levels": [e.redundancy for e in kept],
    }


def _unsupported_result(reason: str) -> dict[str, Any]:
    """:func:`expert_success`'s result for a task the expert has no recipe for."""
    return {
        "success_rate": None,
        "mean_steps": None,
        "n": 0,
        "steps": [],
        "events": [],
        "levels": [],
        "unsupported": reason,
    }


def recorded_yield(path: Path, n_inits: int, stats: dict[str, Any]) -> dict[str, Any]:
    """What recording kept for one task, in :func:`expert_success`'s form, read back from its
    demonstration file (so a resumed recording reports every demo, not only the new ones)."""
    if "unsupported" in stats:
        return _unsupported_result(stats["unsupported"])
    steps, events, levels = [], [], []
    if Path(path).exists():
        with DemoFile(path) as f:
            steps = [int(n) for n in f.lengths()]
            events = [len(f.events(i)) for i in range(len(f))]
            levels = [float(f.meta(i).get("redundancy", float("nan"))) for i in range(len(f))]
    return {
        "success_rate": len(steps) / n_inits,
        "mean_steps": float(np.mean(steps)) if steps else None,
        "n": len(steps),
        "steps": steps,
        "events": events,
        "levels": levels,
    }


# ---------------------------------------------------------------------------- a whole suite
def _call(args: tuple) -> tuple:
    fn, key, kwargs = args
    return key, fn(**kwargs)


def run_parallel(calls: list[tuple], workers: int, desc: str, on_result=None) -> dict:
    """Run ``(fn, key, kwargs)`` calls in ``workers`` niced processes (or inline for 1), with a
    progress bar; returns ``{key: result}`` and hands each to ``on_result(key, result)`` as it
    arrives."""
    from tqdm.auto import tqdm

    results = {}
    bar = tqdm(total=len(calls), desc=desc)

    def take(key, out):
        results[key] = out
        if on_result is not None:
            on_result(key, out)
        bar.update(1)

    if workers <= 1 or len(calls) <= 1:
        for c in calls:
            take(*_call(c))
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(
            min(workers, len(calls)), initializer=_worker_init
        ) as pool:
            for key, out in pool.imap_unordered(_call, calls):
                take(key, out)
    bar.close()
    return results


def record_suite(cfg, suite: str, out_dir: Path) -> dict[str, dict]:
    """Demonstrations for every selected task of ``suite`` into ``out_dir/<task>.hdf5``."""
    lib, d = cfg.bench(suite), cfg.demos
    calls = []
    for task in lib.task_list(suite):
        job = TaskJob(
            suite=suite,
            task=task,
            path=Path(out_dir) / f"{task}_demo.hdf5",
            init_states=list(range(d.per_task)),
            redundancy=demo_redundancy(cfg, suite),
            seed=cfg.seed,
            image_size=lib.image_size,
            cameras=tuple(lib.cameras),
            max_steps=lib.step_limit(suite),
            attempts=d.attempts,
            **_libero_settings(cfg, suite),
        )
        calls.append((record_task, task, {"job": job}))
    return run_parallel(calls, d.workers, f"demos {suite}")


def demo_redundancy(cfg, suite: str) -> float:
    """The redundancy level of ``suite``'s demos: its benchmark's ``redundancy`` if set (a
    tight step limit leaves less room), else ``demos.redundancy``."""
    own = getattr(cfg.bench(suite), "redundancy", None)
    return cfg.demos.redundancy if own is None else own


def _libero_settings(cfg, suite: str) -> dict[str, Any]:
    """LIBERO's settling steps and meshes; neutral values for the other benchmarks."""
    from ptrim.envs import registry

    if registry.benchmark_of(suite) == "libero":
        return {"settle_steps": cfg.libero.settle_steps, "visual_meshes": cfg.libero.visual_meshes}
    return {"settle_steps": 0, "visual_meshes": "full"}


def evaluate_suite(
    cfg,
    suite: str,
    redundancy: float,
    attempts: int,
    cache: Path | None = None,
    n_inits: int | None = None,
) -> dict[str, dict]:
    """Expert success per task of ``suite`` on its first ``n_inits`` (default
    ``demos.expert_init_states``) states.
    Finished tasks are kept in ``cache`` (a JSON file) so an interrupted run resumes."""
    import json

    lib, d = cfg.bench(suite), cfg.demos
    inits = list(range(n_inits or d.expert_init_states))
    kwargs = {
        task: {
            "suite": suite,
            "task": task,
            "init_states": inits,
            "redundancy": redundancy,
            "attempts": attempts,
            "seed": cfg.seed,
            "max_steps": lib.step_limit(suite),
            **_libero_settings(cfg, suite),
        }
        for task in lib.task_list(suite)
    }

    def physics(kw: dict) -> dict:  # the meshes only change images: results stay valid
        return {k: v for k, v in kw.items() if k != "visual_meshes"}

    done = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    done = {
        t: r["result"]
        for t, r in done.items()
        if t in kwargs and physics(r["kwargs"]) == physics(kwargs[t])
    }

    def keep(task: str, result: dict) -> None:
        done[task] = result
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(
                json.dumps({t: {"kwargs": kwargs[t], "result": r} for t, r in sorted(done.items())})
            )

    calls = [(expert_success, t, kw) for t, kw in kwargs.items() if t not in done]
    run_parallel(calls, d.workers, f"expert {suite} r={redundancy}", on_result=keep)
    return {t: done[t] for t in kwargs}


def expert_table(minimal: dict, redundant: dict) -> dict[str, dict]:
    """``{task: {success_rate, mean_steps, n, ...}}``: the expert's own success and steps
    (redundancy 0, one try per initial state), then what demonstration recording yields at the
    profile's redundancy (``*_demos``), with the step spread and the length ratio. Tasks
    come in ``minimal``'s order (the suite's), whatever order the recording finished in."""
    out = {}
    for task, m in minimal.items():
        r = redundant[task]
        if m["success_rate"] is None:
            out[task] = {
                "success_rate": None,
                "mean_steps": None,
                "n": 0,
                "unsupported": m["unsupported"],
            }
            continue
        steps = np.array(r["steps"], float)
        out[task] = {
            "success_rate": m["success_rate"],
            "mean_steps": m["mean_steps"],
            "n": m["n"],
            "steps": m["steps"],
            "success_rate_demos": r["success_rate"],
            "mean_steps_demos": r["mean_steps"],
            "steps_demos": r["steps"],
            "step_cv_demos": float(steps.std() / steps.mean()) if len(steps) > 1 else None,
            "events_per_demo": float(np.mean(r["events"])) if r["events"] else 0.0,
            "mean_level_demos": float(np.mean(r["levels"])) if r["levels"] else None,
            "length_ratio": (r["mean_steps"] / m["mean_steps"])
            if r["mean_steps"] and m["mean_steps"]
            else None,
        }
    return out


def suite_report(cfg, suite: str, demo_dir: Path) -> dict[str, Any]:
    """The ``demos@suite`` stage: record demonstrations if the profile trains on ``suite``,
    measure the expert if the profile lists it; returns ``{"table": ..., "recorded": ...}``."""
    recorded = {}
    if suite in cfg.suites():
        recorded = record_suite(cfg, suite, demo_dir)
    table = {}
    if suite in cfg.demos.expert_suites:
        minimal = evaluate_suite(cfg, suite, 0.0, 1, cache=demo_dir / "expert_r0.json")
        if recorded:  # the recording ran these episodes: read its yield instead of re-running
            redundant = {
                task: recorded_yield(demo_dir / f"{task}_demo.hdf5", cfg.demos.per_task, stats)
                for task, stats in recorded.items()
            }
        else:
            redundant = evaluate_suite(
                cfg,
                suite,
                demo_redundancy(cfg, suite),
                cfg.demos.attempts,
                cache=demo_dir / "expert_demos.json",
                n_inits=cfg.demos.yield_init_states,
            )
        table = expert_table(minimal, redundant)
    return {"table": table, "recorded": recorded}


def merge_tables(paths: list[Path]) -> dict[str, dict]:
    """``data/metrics/experts.json``: ``{suite: {task: {success_rate, mean_steps, n, ...}}}``
    from the per-suite files (suites the profile did not measure are left out)."""
    import json

    out = {}
    for p in sorted(paths):
        table = json.loads(Path(p).read_text())
        if table:
            out[Path(p).stem] = table
    return out


def recording_status(demo_dir: Path) -> list[dict[str, Any]]:
    """Per task file in ``demo_dir``: demonstrations recorded so far, their mean length and
    when the file last changed (readable while a recording is still writing it)."""
    import time

    rows = []
    for path in sorted(Path(demo_dir).glob("*_demo.hdf5")):
        try:
            with DemoFile(path, locking=False) as f:
                lengths = f.lengths()
        except DataError as exc:
            rows.append({"task": path.name[: -len("_demo.hdf5")], "error": str(exc)})
            continue
        rows.append(
            {
                "task": path.name[: -len("_demo.hdf5")],
                "demos": len(lengths),
                "mean_steps": float(lengths.mean()) if len(lengths) else None,
                "modified_s_ago": round(time.time() - path.stat().st_mtime),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m ptrim.demos")
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("merge", help="per-suite expert tables -> one experts.json")
    m.add_argument("src", type=Path)
    m.add_argument("out", type=Path)
    s = sub.add_parser("status", help="demonstrations recorded so far (safe during a recording)")
    s.add_argument("demo_dir", type=Path, help="e.g. data/demos/libero_object")
    args = parser.parse_args(argv)
    if args.what == "status":
        for r in recording_status(args.demo_dir):
            if "error" in r:
                print(f"{r['task'][:60]:<60} {r['error']}")
            else:
                mean = f"{r['mean_steps']:.0f}" if r["mean_steps"] else "-"
                print(
                    f"{r['task'][:60]:<60} {r['demos']:>3} demos, {mean:>4} steps on average, "
                    f"written {r['modified_s_ago']} s ago"
                )
        return
    table = merge_tables(list(args.src.glob("*.json")))
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{args.out}: {', '.join(table) or 'no suite measured'}")


if __name__ == "__main__":
    main()
