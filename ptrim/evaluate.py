"""Evaluate a policy on LIBERO: every selected task × initial state at one execution length.

:func:`evaluate` runs the chunked rollout (:func:`ptrim.rollout.rollout`) task by task and
returns the episode records; :func:`report` turns them into the metrics JSON every stage writes
(the names of :mod:`ptrim.metrics`, each ``{value, lo, hi, n}`` with a cluster-bootstrap 95 %
interval over initial states), plus the facts needed to read the numbers (step limit, H, h).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptrim import metrics
from ptrim.episode import EpisodeRecord
from ptrim.episode_store import EpisodeStore, weights_fingerprint
from ptrim.models.base import ChunkPolicy


def make_env(cfg, suite: str, task: str, *, seed: int = 0):
    """An environment of ``suite`` (any benchmark) as the profile describes it: cameras,
    image size and step limit (:func:`ptrim.envs.registry.make_env`)."""
    from ptrim.envs import registry

    return registry.make_env(cfg, suite, task, seed=seed)


def evaluate(
    policy: ChunkPolicy,
    cfg,
    suite: str,
    *,
    exec_len: int,
    tasks: Sequence[str] | None = None,
    init_states: Sequence[int] | None = None,
    repeats: int = 1,
    sample: bool = False,
    seed: int = 0,
    progress: bool = True,
    trace: bool = False,
    store: EpisodeStore | None = None,
    pool=None,
) -> list[EpisodeRecord]:
    """Episodes of ``policy`` on ``suite`` (the profile's tasks and initial states unless
    given), ``repeats`` per initial state, executing ``exec_len`` actions per plan.
    ``sample=False`` is the deployed policy (flow families integrate the ODE from seeded noise,
    regression heads return their mean, token heads their argmax). ``trace`` records each
    episode's per-step proprio and actions (:func:`ptrim.rollout.rollout`).

    Initial states and per-episode seeds depend on ``seed``, the task's position and the
    initial state/repeat only, not on ``exec_len``: runs at several ``h`` with the same
    arguments are paired episode by episode.

    With a ``store`` (:class:`ptrim.episode_store.EpisodeStore`, whose context should name the
    policy's weights) each task's episodes are saved when the task finishes and loaded, not
    re-run, when the same call comes again: a killed evaluation resumes task by task. A
    ``pool`` (:func:`env_pool`, for this suite and seed) keeps each task's environments open
    for the next call (building a LIBERO environment takes seconds; resets are bit-exact).
    The episodes run on the backend ``rollout.backend`` names (:mod:`ptrim.backend`; the
    pool's, if given), one work item per initial state."""
    from tqdm.auto import tqdm

    from ptrim.backend import LocalRollouts

    bench = cfg.bench(suite)
    tasks = list(tasks if tasks is not None else bench.task_list(suite))
    inits = list(init_states if init_states is not None else range(bench.init_states))
    n_envs = cfg.rollout.num_envs
    if isinstance(pool, LocalRollouts) and pool.size != n_envs:
        raise ValueError(f"the pool holds {pool.size} environments per task, not {n_envs}")
    episodes: list[EpisodeRecord] = []
    bar = tqdm(
        total=len(tasks) * len(inits) * repeats,
        desc=f"eval {suite} h={exec_len}",
        disable=not progress,
    )
    # without a pool: one task's environments at a time, closed at the end
    runner = (
        contextlib.nullcontext(pool)
        if pool is not None
        else env_pool(cfg, suite, seed=seed, max_envs=n_envs)
    )
    synced = False  # the policy goes to the backend once, when a task has to run
    with runner as rollouts:
        for t, task in enumerate(tasks):
            key = {
                "suite": suite,
                "task": task,
                "task_position": t,
                "init_states": inits,
                "exec_len": int(exec_len),
                "repeats": int(repeats),
                "sample": bool(sample),
                "seed": int(seed),
                "trace": bool(trace),
                "num_envs": int(n_envs),
            }
            if store is not None and key in store:
                done = store.load(key)
                bar.update(len(done))
            else:
                if not synced:
                    rollouts.sync(policy)
                    synced = True
                work = task_work(task, inits, exec_len, repeats=repeats, seed=seed * 1000 + t)
                tick = functools.partial(_tick, bar)
                done = rollouts.run(work, sample=sample, trace=trace, on_episode=tick)
                if store is not None:
                    store.save(key, done)
            episodes += done
    bar.close()
    return episodes


def task_work(task: str, inits: Sequence[int], exec_len: int, *, repeats: int, seed: int):
    """An evaluation of one task as :class:`ptrim.backend.Work`, one item per initial state
    (its repeats), seeds as :func:`ptrim.rollout.make_jobs` gives them (``n_envs`` aside)."""
    from ptrim.backend import Run, Work
    from ptrim.rollout import make_jobs

    jobs = make_jobs(1, inits, [exec_len], repeats=repeats, seed=seed)
    return [
        Work(task, tuple(Run(j.init_state, j.exec_len, j.seed) for j in jobs[i : i + repeats]))
        for i in range(0, len(jobs), repeats)
    ]


def env_pool(cfg, suite: str, *, seed: int = 0, max_envs: int | None = None):
    """Environments of ``suite`` kept open across :func:`evaluate` calls: the rollout backend
    ``rollout.backend`` names (:func:`ptrim.backend.make_rollouts`). Locally one batch of
    ``rollout.num_envs`` per task, at most ``max_envs`` (default ``rl.max_open_envs``)
    environments (least recently used closed first; ~0.7 GB each); on Ray as many per worker.
    Close it when done (it is a context manager too)."""
    from ptrim.backend import make_rollouts

    factory = functools.partial(make_env, cfg, suite, seed=seed)
    max_envs = cfg.rl.max_open_envs if max_envs is None else max_envs
    return make_rollouts(cfg.rollout, factory, max_envs=max_envs)


def policy_store(root: str | Path, policy, cfg, suite: str) -> EpisodeStore:
    """A store for ``policy``'s episodes on ``suite`` under the profile's simulator settings:
    its key holds the weights' fingerprint, the benchmark's section of ``params.yaml`` (which
    models train there aside) and the device, so changing any of them starts afresh. Keep
    ``root`` outside DVC outputs (DVC deletes those before a run)."""
    import dataclasses

    from ptrim.envs import registry

    section = dataclasses.asdict(cfg.bench(suite))
    section.pop("families")  # who trains on a suite does not change its episodes
    context = {
        "weights": weights_fingerprint(policy),
        registry.benchmark_of(suite): section,
        "device": str(cfg.device),
    }
    if cfg.rollout.max_steps is not None:  # episodes cut shorter are other episodes
        context["rollout_max_steps"] = cfg.rollout.max_steps
    return EpisodeStore(root, context)


def _tick(bar, ep: EpisodeRecord) -> None:
    bar.update(1)
    bar.set_postfix_str(f"{'ok' if ep.success else 'fail'} {ep.steps} steps {ep.n_calls} calls")


def report(episodes: Sequence[EpisodeRecord], *, seed: int = 0, **facts: Any) -> dict[str, Any]:
    """``{metric: {value, lo, hi, n}, ..., "per_task": {...}, "facts": {...}}``."""
    out: dict[str, Any] = metrics.to_json(metrics.summarize(episodes, seed=seed))
    out["per_task"] = {
        task: {
            "success_rate": metrics.success_rate(eps),
            "steps": metrics.mean_steps(eps) if any(e.success for e in eps) else None,
            "n": len(eps),
        }
        for (task,), eps in metrics.group_by(episodes, "task").items()
    }
    first = episodes[0]
    out["facts"] = {
        "suite": first.suite,
        "plan_horizon": first.plan_horizon,
        "exec_len": first.exec_len,
        "max_steps": first.max_steps,
        "episodes": len(episodes),
        "initial_states": len({(e.task, e.init_index) for e in episodes}),
        **facts,
    }
    return out


def save_episodes(episodes: Sequence[EpisodeRecord], path: Path) -> None:
    """One JSON line per episode (scalars; :meth:`EpisodeRecord.from_summary` reads them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(e.summary()) + "\n" for e in episodes))


def load_episodes(path: Path) -> list[EpisodeRecord]:
    return [EpisodeRecord.from_summary(json.loads(line)) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------------------------
# Paired evaluation: several policies of one model on the same states with the same seeds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One policy of a paired evaluation: a name (``base``, ``stage1``, ``policytrim``, an
    ablation), its weights directory and the execution length it runs at."""

    name: str
    weights: Path
    exec_len: int


def paired(
    variants: Sequence[Variant],
    cfg,
    suite: str,
    *,
    store_root: str | Path | None = None,
    progress: bool = True,
) -> dict[str, list[EpisodeRecord]]:
    """``{variant name: episodes}``: each variant's deployed policy on the first
    ``evaluate.init_states`` initial states of every task, all with the same seed, so the
    episodes pair state by state. With ``store_root`` each policy's finished tasks are kept in
    ``<store_root>`` (keyed by its weights) and a killed evaluation resumes."""
    from ptrim import models

    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names repeat: {names}")
    out: dict[str, list[EpisodeRecord]] = {}
    with env_pool(cfg, suite, seed=cfg.seed) as pool:  # each task's envs built once
        for v in variants:
            policy = models.load(v.weights, device=cfg.device).eval()
            out[v.name] = evaluate(
                policy,
                cfg,
                suite,
                exec_len=v.exec_len,
                init_states=range(cfg.evaluate.init_states),
                seed=cfg.seed,
                progress=progress,
                store=policy_store(store_root, policy, cfg, suite) if store_root else None,
                pool=pool,
            )
    return out


def paired_report(
    by_variant: dict[str, Sequence[EpisodeRecord]], *, base: str = "base", seed: int = 0
) -> dict[str, Any]:
    """Each variant's :func:`report` under its name, plus ``compare``: every other variant
    against ``base`` on the shared states (:func:`ptrim.metrics.compare`: call speedup, the
    paper's Spd, end-to-end speedup, success and step differences, all with intervals)."""
    if base not in by_variant:
        raise ValueError(f"no {base!r} among the variants {list(by_variant)}")
    out: dict[str, Any] = {name: report(eps, seed=seed) for name, eps in by_variant.items()}
    out["compare"] = {
        name: metrics.to_json(metrics.compare(by_variant[base], eps, seed=seed))
        for name, eps in by_variant.items()
        if name != base
    }
    return out


def median_saving_state(
    base: Sequence[EpisodeRecord], method: Sequence[EpisodeRecord]
) -> tuple[str, int] | None:
    """The ``(task, init_index)`` where both policies succeed and ``method`` saves the median
    number of steps against ``base`` (a representative state for keyframes, not the best);
    None if no state has both succeeding."""
    done = {(e.task, e.init_index): e.success_step for e in method if e.success}
    savings = sorted(
        (e.success_step - done[(e.task, e.init_index)], e.task, e.init_index)
        for e in base
        if e.success and (e.task, e.init_index) in done
    )
    if not savings:
        return None
    _, task, init = savings[(len(savings) - 1) // 2]
    return task, int(init)


def keyframe_strips(
    variants: Sequence[Variant],
    by_variant: dict[str, Sequence[EpisodeRecord]],
    cfg,
    suite: str,
    state: tuple[str, int],
    n_frames: int,
) -> dict[str, dict[str, Any]]:
    """``{variant name: profiling.keyframes(...)}``: each policy re-run from the same initial
    ``state`` ``(task, init_index)`` with its evaluation seed, ``n_frames`` agent-view frames
    evenly spaced over its calls (the paper's Fig. 3)."""
    from ptrim import models
    from ptrim.profiling import keyframes

    task, init = state
    strips = {}
    for v in variants:
        [episode] = [e for e in by_variant[v.name] if (e.task, e.init_index) == (task, init)]
        policy = models.load(v.weights, device=cfg.device).eval()
        env = functools.partial(make_env, cfg, suite, seed=cfg.seed)
        strips[v.name] = keyframes(policy, episode, env, n_frames=n_frames)
    return strips


SUMMARY_COLUMNS = ("success_rate", "steps", "exec_len", "calls", "latency_ms", "e2e_time")
COMPARE_COLUMNS = ("call_speedup", "spd_paper", "e2e_speedup", "sr_diff", "steps_ratio")


def estimate_text(est: dict[str, Any], digits: int = 3) -> str:
    """``value [lo, hi]`` of a metrics-JSON estimate, for tables (``n/a`` when undefined)."""
    v, lo, hi = (est.get(k) for k in ("value", "lo", "hi"))
    if v is None or not math.isfinite(v):
        return "n/a"
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{v:.{digits}g}"
    return f"{v:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def paired_tables(result: dict[str, Any], names: Sequence[str]):
    """Two DataFrames of ``value [lo, hi]`` strings from a :func:`paired_report`: each policy's
    metrics (rows: policies) and each comparison against the first (rows: the others)."""
    import pandas as pd

    def rows(block, columns, keys):
        return {n: {c: estimate_text(block[n][c]) for c in columns} for n in keys}

    summary = pd.DataFrame(rows(result, SUMMARY_COLUMNS, names)).T
    compared = pd.DataFrame(rows(result["compare"], COMPARE_COLUMNS, names[1:])).T
    return summary, compared
