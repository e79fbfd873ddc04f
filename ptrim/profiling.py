"""Baseline profiling: the pathologies of the paper's Fig. 1, measured on our policies.

* **Execution-length sweep** (Fig. 1b): the same tasks, initial states and seeds at every ``h``
  of a grid (:func:`exec_len_grid`, :func:`sweep`), one row of metrics with 95 % cluster-bootstrap
  intervals per ``h`` (:func:`sweep_table`), and the largest ``h`` whose success rate stays
  within ``epsilon`` of the best (:func:`reliable_exec_len`: stage 1's starting frontier).
* **Step variance** (Fig. 1a): repeated sampled rollouts from the same initial states
  (:func:`repeated_rollouts`) and the spread of their step counts (:func:`step_variance`).
* **Redundancy** (Fig. 1c), measured on one trajectory: end-effector positions ``ee`` ``[T+1, 3]``
  (after reset, then after every step) and gripper commands ``[T]`` (the action's last
  dimension; ``> 0`` means close — LIBERO: -1 open, +1 close). The gripper is taken to be open
  before the first step (LIBERO resets it open), so a close commanded at step 0 is a switch.
  :func:`still_steps`, :func:`path_ratio`, :func:`gripper_reclosures`, :func:`regrasp_steps`;
  :func:`redundancy` combines them for one episode, :func:`redundancy_table` per ``h``.
* **Plan-tail error**: how far the deterministic plan drifts from the demonstrated chunk at each
  position of the plan (:func:`tail_error`) — why long open-loop execution fails.
* :func:`keyframes` re-runs the most redundant successful episode and keeps a few frames.

Array conventions: action step ``t`` (0-based) moves the arm from ``ee[t]`` to ``ee[t + 1]``
with gripper command ``gripper_cmd[t]``. Functions take numpy arrays or episode records and
return plain numbers, lists and dicts (NaN where a number is undefined; :func:`jsonable` turns
them into JSON-ready values).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ptrim import metrics
from ptrim.episode import EpisodeRecord
from ptrim.evaluate import evaluate

EE_POS = slice(0, 3)  # proprio columns holding the end-effector position (LIBERO: metres)
GRIP_WINDOW = (2, 10)  # steps before / after a gripper switch never counted as still
SR_TOLERANCE = 1e-9  # float slack when comparing success rates against best - epsilon

SWEEP_METRICS = (
    "success_rate", "steps", "steps_all", "calls", "calls_all", "exec_len", "latency_ms",
    "e2e_time",
)  # fmt: skip
REDUNDANCY_METRICS = (
    "redundant_share", "still_steps", "regrasp_steps", "path_ratio", "gripper_reclosures",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Execution-length sweep
# --------------------------------------------------------------------------------------------


def exec_len_grid(plan_horizon: int, base_exec_len: int, points: int) -> list[int]:
    """Execution lengths to profile: ``points`` values evenly spaced from ``H / points`` to
    ``H`` (rounded half up, clipped to ``1..H``), plus the base ``h`` and ``H``; sorted,
    unique. Rounding may merge values, so fewer than ``points`` can come back (``H = 1``
    gives ``[1]``)."""
    H, base = int(plan_horizon), int(base_exec_len)
    if H < 1:
        raise ValueError(f"plan_horizon must be >= 1, got {H}")
    if not 1 <= base <= H:
        raise ValueError(f"base_exec_len must be in 1..{H}, got {base}")
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    xs = np.linspace(H / points, H, int(points))
    grid = {min(H, max(1, math.floor(x + 0.5))) for x in xs}
    return sorted(grid | {base, H})


def _init_list(init_states: int | Sequence[int]) -> list[int]:
    """A count ``n`` means the first ``n`` initial states."""
    return list(range(init_states)) if isinstance(init_states, int) else list(init_states)


def sweep(
    policy,
    cfg,
    suite: str,
    exec_lens: Iterable[int],
    *,
    tasks: Sequence[str] | None = None,
    init_states: int | Sequence[int],
    seed: int,
    sample: bool = False,
    trace: bool = True,
    progress: bool = True,
    store=None,
    pool=None,
) -> dict[int, list[EpisodeRecord]]:
    """``{h: episodes}``: :func:`ptrim.evaluate.evaluate` once per ``h`` (ascending) with the
    same tasks, initial states (a count means the first ``n``) and ``seed``, so every ``h``
    sees the same initial states and per-episode noise seeds. ``trace`` keeps per-step
    proprio/actions for :func:`redundancy`; a ``store`` makes a killed sweep resume task by
    task (:func:`ptrim.evaluate.policy_store`); a ``pool`` (:func:`ptrim.evaluate.env_pool`)
    builds each task's environments once for every ``h``."""
    inits = _init_list(init_states)
    return {
        int(h): evaluate(
            policy,
            cfg,
            suite,
            exec_len=int(h),
            tasks=tasks,
            init_states=inits,
            sample=sample,
            seed=seed,
            progress=progress,
            trace=trace,
            store=store,
            pool=pool,
        )
        for h in sorted(set(exec_lens))
    }


def _records(episodes: metrics.Episodes) -> Sequence[EpisodeRecord]:
    return episodes.records if isinstance(episodes, metrics.EpisodeTable) else list(episodes)


def wall_time(episodes: metrics.Episodes) -> float:
    """Measured wall time per episode (s): policy + env stepping + rendering, mean over all
    episodes (failures included: it is what running the episodes cost here)."""
    recs = _records(episodes)
    t = [e.policy_time_s + e.env_time_s + e.render_time_s for e in recs]
    return float(np.mean(t)) if t else math.nan


def _flat(name: str, est: metrics.Estimate) -> dict[str, float]:
    """``{name: value, name_lo: lo, name_hi: hi}``."""
    return {name: est.value, f"{name}_lo": est.lo, f"{name}_hi": est.hi}


def sweep_table(
    episodes_by_h: Mapping[int, Sequence[EpisodeRecord]], seed: int = 0, *, n_boot: int = 1000
) -> list[dict[str, Any]]:
    """One flat row per ``h`` (ascending): ``h`` (requested), ``n`` episodes, ``successes``,
    and for each of :data:`SWEEP_METRICS` plus ``wall_time`` (:func:`wall_time`) the value
    and its 95 % cluster-bootstrap interval as ``<name>``, ``<name>_lo``, ``<name>_hi``
    (definitions in :mod:`ptrim.metrics`; ``exec_len`` is the measured mean). NaN where a
    metric is undefined (e.g. ``steps`` without successes)."""
    rows = []
    for h, eps in sorted(episodes_by_h.items()):
        est = metrics.summarize(eps, n_boot=n_boot, seed=seed)
        row: dict[str, Any] = {"h": int(h), "n": len(eps), "successes": sum(e.success for e in eps)}
        for name in SWEEP_METRICS:
            row.update(_flat(name, est[name]))
        row.update(_flat("wall_time", metrics.bootstrap(eps, wall_time, n_boot=n_boot, seed=seed)))
        rows.append(row)
    return rows


def reliable_exec_len(
    rows: Sequence[Mapping[str, Any]], epsilon: float, *, contiguous: bool = False
) -> int:
    """The largest ``h`` whose success rate is at least ``best - epsilon`` (success rates as
    fractions, so ``epsilon = 0.05`` is 5 points; point estimates, intervals not used).

    ``rows`` need ``h`` and ``success_rate`` (:func:`sweep_table`); rows whose success rate is
    missing or NaN are ignored. Ties: among equally reliable ``h`` the largest wins, and the
    best ``h`` itself always qualifies. A non-monotone curve may yield an ``h`` beyond a dip
    (e.g. SR 1.0, 0.8, 0.98 at h 5, 10, 15 gives 15); ``contiguous=True`` instead walks up the
    grid from the smallest ``h`` with the best rate and stops before the first unreliable one
    (gives 5 there). Comparisons allow :data:`SR_TOLERANCE` of float slack. Raises ValueError
    when no row has a success rate.
    """
    pts = sorted(
        (int(r["h"]), float(r["success_rate"]))
        for r in rows
        if r.get("success_rate") is not None and math.isfinite(float(r["success_rate"]))
    )
    if not pts:
        raise ValueError("reliable_exec_len: no row has a success rate")
    best = max(sr for _, sr in pts)
    ok = [sr >= best - epsilon - SR_TOLERANCE for _, sr in pts]
    if not contiguous:
        return max(h for (h, _), good in zip(pts, ok, strict=True) if good)
    k = next(i for i, (_, sr) in enumerate(pts) if sr == best)
    while k + 1 < len(pts) and ok[k + 1]:
        k += 1
    return pts[k][0]


# --------------------------------------------------------------------------------------------
# Step variance over repeated rollouts
# --------------------------------------------------------------------------------------------


def repeated_rollouts(
    policy,
    cfg,
    suite: str,
    *,
    exec_len: int,
    init_states: int | Sequence[int],
    repeats: int,
    seed: int,
    tasks: Sequence[str] | None = None,
    progress: bool = True,
    store=None,
    pool=None,
) -> list[EpisodeRecord]:
    """``repeats`` sampled rollouts (each with its own noise seed) from each initial state
    (a count means the first ``n``) of every task, at execution length ``exec_len`` (resumable
    with a ``store``, as :func:`sweep`)."""
    return evaluate(
        policy,
        cfg,
        suite,
        exec_len=exec_len,
        tasks=tasks,
        init_states=_init_list(init_states),
        repeats=repeats,
        sample=True,
        seed=seed,
        progress=progress,
        store=store,
        pool=pool,
    )


def _success_step(ep: EpisodeRecord) -> int:
    return int(ep.success_step if ep.success_step is not None else ep.steps)


def step_variance(episodes: Iterable[EpisodeRecord]) -> dict[str, Any]:
    """Spread of steps over repeated rollouts from the same initial state.

    Returns ``{"states": [...], "per_task": {task: [steps]}, "mean_cv": float}``: one entry per
    ``(task, init_index)`` (first-seen order) with ``episodes``, ``successes``, the ``steps``
    of its successful repeats, their ``mean``, population ``std`` and ``cv = std / mean``
    (std and cv NaN below 2 successes, mean NaN without any); ``per_task`` pools the successful
    repeats' steps of every state of a task (box plots); ``mean_cv`` averages the defined CVs
    (:func:`ptrim.metrics.step_cv` on a single suite).
    """
    groups: dict[tuple[str, int], list[EpisodeRecord]] = {}
    for ep in episodes:
        groups.setdefault((ep.task, int(ep.init_index)), []).append(ep)
    states, per_task = [], {}
    for (task, init), eps in groups.items():
        x = np.array([_success_step(e) for e in eps if e.success], dtype=float)
        std = float(x.std()) if x.size >= 2 else math.nan
        mean = float(x.mean()) if x.size else math.nan
        states.append(
            {
                "task": task,
                "init_index": init,
                "episodes": len(eps),
                "successes": int(x.size),
                "steps": x.astype(int).tolist(),
                "mean": mean,
                "std": std,
                "cv": std / mean if x.size >= 2 else math.nan,
            }
        )
        per_task.setdefault(task, []).extend(x.astype(int).tolist())
    cvs = [s["cv"] for s in states if math.isfinite(s["cv"])]
    return {"states": states, "per_task": per_task, "mean_cv": _mean_finite(cvs)}


def _mean_finite(values: Iterable[float]) -> float:
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


# --------------------------------------------------------------------------------------------
# Redundancy of one trajectory
# --------------------------------------------------------------------------------------------


def _closed(gripper_cmd: np.ndarray) -> np.ndarray:
    """Bool ``[T]``: the gripper is commanded closed at step ``t`` (command > 0)."""
    return np.asarray(gripper_cmd, dtype=float).reshape(-1) > 0


def gripper_switches(gripper_cmd: np.ndarray) -> np.ndarray:
    """Steps ``t`` whose command differs from the previous step's (open before step 0)."""
    closed = _closed(gripper_cmd)
    prev = np.concatenate([[False], closed[:-1]])
    return np.flatnonzero(closed != prev)


def step_lengths(ee: np.ndarray) -> np.ndarray:
    """``[T]`` distance the end effector moved at each step."""
    return np.linalg.norm(np.diff(np.asarray(ee, dtype=float), axis=0), axis=1)


def still_mask(
    ee: np.ndarray,
    speed: float,
    gripper_cmd: np.ndarray | None = None,
    *,
    grip_window: tuple[int, int] = GRIP_WINDOW,
) -> np.ndarray:
    """Bool ``[T]``: steps that moved the end effector less than ``speed`` (m/step).

    With ``gripper_cmd``, steps from ``grip_window[0]`` before to ``grip_window[1]`` after a
    gripper switch (:func:`gripper_switches`) are not counted: the arm legitimately waits while
    the fingers open or close. Position only: a pure in-place rotation counts as still.
    """
    still = step_lengths(ee) < speed
    if gripper_cmd is not None:
        if len(_closed(gripper_cmd)) != len(still):
            raise ValueError(f"{len(still) + 1} positions need {len(still)} gripper commands")
        before, after = grip_window
        for s in gripper_switches(gripper_cmd):
            still[max(0, s - before) : s + after + 1] = False
    return still


def still_steps(
    ee: np.ndarray,
    speed: float,
    gripper_cmd: np.ndarray | None = None,
    *,
    grip_window: tuple[int, int] = GRIP_WINDOW,
) -> int:
    """Number of nearly-still steps (:func:`still_mask`)."""
    return int(still_mask(ee, speed, gripper_cmd, grip_window=grip_window).sum())


def path_ratio(ee: np.ndarray, gripper_cmd: np.ndarray) -> float:
    """Path length / the sum of straight-line distances between consecutive waypoints: the
    start, every gripper switch (the position before that step) and the end. 1.0 when the
    arm moves straight between grasp events; NaN when the waypoints all coincide."""
    ee = np.asarray(ee, dtype=float)
    T = len(ee) - 1
    if len(_closed(gripper_cmd)) != T:
        raise ValueError(f"{T + 1} positions need {T} gripper commands")
    points = np.unique(np.concatenate([[0], gripper_switches(gripper_cmd), [T]]))
    straight = float(np.linalg.norm(np.diff(ee[points], axis=0), axis=1).sum())
    return float(step_lengths(ee).sum()) / straight if straight > 1e-9 else math.nan


def gripper_reclosures(gripper_cmd: np.ndarray) -> int:
    """Close events (open → close switches, incl. a close at step 0) beyond the first. Tasks
    with several grasps have some legitimately: compare across ``h`` or policies, not to 0."""
    closed = _closed(gripper_cmd)
    closes = int(closed[gripper_switches(gripper_cmd)].sum())
    return max(0, closes - 1)


def regrasp_mask(gripper_cmd: np.ndarray) -> np.ndarray:
    """Bool ``[T]``: open-commanded steps after the first close and before the last close
    (a re-opening followed by a re-close: the steps until the gripper closes again)."""
    closed = _closed(gripper_cmd)
    idx = np.flatnonzero(closed)
    t = np.arange(len(closed))
    if idx.size == 0:
        return np.zeros(len(closed), dtype=bool)
    return ~closed & (t > idx[0]) & (t < idx[-1])


def regrasp_steps(gripper_cmd: np.ndarray) -> int:
    """Number of steps spent re-opened between a close and the following re-close."""
    return int(regrasp_mask(gripper_cmd).sum())


def trajectory(ep_or_arrays: EpisodeRecord | tuple[np.ndarray, np.ndarray]):
    """``(ee [T+1, 3], gripper_cmd [T])`` from a traced episode or an ``(ee, cmd)`` pair."""
    if isinstance(ep_or_arrays, EpisodeRecord):
        ep = ep_or_arrays
        if ep.proprio_trace is None or ep.action_trace is None:
            raise ValueError(
                f"episode {ep.task} #{ep.init_index} h={ep.exec_len} has no trajectory trace "
                "(run the rollout with trace=True)"
            )
        return np.asarray(ep.proprio_trace)[:, EE_POS], np.asarray(ep.action_trace)[:, -1]
    ee, cmd = ep_or_arrays
    ee, cmd = np.asarray(ee, dtype=float), np.asarray(cmd, dtype=float).reshape(-1)
    if ee.ndim != 2 or len(ee) != len(cmd) + 1:
        raise ValueError(f"ee {ee.shape} needs one row more than gripper_cmd {cmd.shape}")
    return ee, cmd


def redundancy(
    ep_or_arrays: EpisodeRecord | tuple[np.ndarray, np.ndarray],
    still_speed: float,
    *,
    grip_window: tuple[int, int] = GRIP_WINDOW,
) -> dict[str, float]:
    """Redundancy measures of one trajectory: ``steps``, ``still_steps``, ``regrasp_steps``,
    ``redundant_steps`` (still ∪ regrasp, each step once), ``redundant_share`` (that / steps),
    ``path_length`` (m), ``path_ratio``, ``gripper_reclosures``."""
    ee, cmd = trajectory(ep_or_arrays)
    still = still_mask(ee, still_speed, cmd, grip_window=grip_window)
    regrasp = regrasp_mask(cmd)
    T = len(cmd)
    redundant = int((still | regrasp).sum())
    return {
        "steps": T,
        "still_steps": int(still.sum()),
        "regrasp_steps": int(regrasp.sum()),
        "redundant_steps": redundant,
        "redundant_share": redundant / T if T else math.nan,
        "path_length": float(step_lengths(ee).sum()),
        "path_ratio": path_ratio(ee, cmd),
        "gripper_reclosures": gripper_reclosures(cmd),
    }


def _mean_of(per_episode: dict[int, dict[str, float]], name: str, t: metrics.EpisodeTable):
    """Mean of one redundancy measure over the successful episodes of ``t``."""
    return _mean_finite(per_episode[id(e)][name] for e in _records(t) if e.success)


def redundancy_table(
    episodes_by_h: Mapping[int, Sequence[EpisodeRecord]],
    still_speed: float,
    *,
    seed: int = 0,
    n_boot: int = 1000,
    grip_window: tuple[int, int] = GRIP_WINDOW,
) -> list[dict[str, Any]]:
    """One flat row per ``h``: ``h``, ``n`` successful (traced) episodes, and for each of
    :data:`REDUNDANCY_METRICS` the mean over successful episodes (failures run to the step
    limit, so their redundancy measures the failure) with its 95 % cluster-bootstrap
    interval over initial states (``<name>``, ``<name>_lo``, ``<name>_hi``; NaN without
    successes)."""
    rows = []
    for h, eps in sorted(episodes_by_h.items()):
        per = {id(e): redundancy(e, still_speed, grip_window=grip_window) for e in eps if e.success}
        row: dict[str, Any] = {"h": int(h), "n": len(per)}
        for name in REDUNDANCY_METRICS:
            fn = functools.partial(_mean_of, per, name)
            row.update(_flat(name, metrics.bootstrap(eps, fn, n_boot=n_boot, seed=seed)))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Plan-tail error
# --------------------------------------------------------------------------------------------


def tail_error(policy, dataset, n: int, seed: int = 0, *, batch_size: int = 16) -> dict:
    """Mean absolute error of the deterministic plan against the demonstrated chunk, per plan
    position ``k = 0..H-1``.

    ``n`` dataset samples (:class:`ptrim.data.ChunkDataset` items) drawn without replacement by
    a generator seeded with ``seed``; row ``i`` plans with a generator seeded ``seed + i``.
    Errors are averaged over action dimensions and over the samples whose position ``k`` is a
    real (unmasked) demo action. Returns ``{"position", "mae", "count", "mae_by_dim"}``
    (lists; ``mae_by_dim`` is ``[H][A]``; NaN where ``count`` is 0).
    """
    import torch

    from ptrim.data import collate

    g = torch.Generator().manual_seed(seed)
    picks = torch.randperm(len(dataset), generator=g)[:n].tolist()
    H = int(policy.plan_horizon)
    total, count, by_dim = np.zeros(H), np.zeros(H, dtype=int), None
    for start in range(0, len(picks), batch_size):
        rows = picks[start : start + batch_size]
        batch = collate([dataset[i] for i in rows])
        gens = [torch.Generator().manual_seed(seed + start + j) for j in range(len(rows))]
        with torch.no_grad():
            planned = np.asarray(policy.plan(batch, sample=False, generator=gens).actions, float)
        demo = batch["actions"].numpy().astype(float)
        if planned.shape != demo.shape:
            raise ValueError(f"plans {planned.shape} and demo chunks {demo.shape} differ")
        mask = batch["action_mask"].numpy().astype(bool)
        err = np.abs(planned - demo) * mask[..., None]  # [B, H, A]
        total += err.mean(-1).sum(0)
        by_dim = err.sum(0) if by_dim is None else by_dim + err.sum(0)
        count += mask.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mae = np.where(count > 0, total / count, np.nan)
        mae_dim = by_dim / count[:, None] if by_dim is not None else np.full((H, 0), np.nan)
    return {
        "position": list(range(H)),
        "mae": mae.tolist(),
        "count": count.tolist(),
        "mae_by_dim": mae_dim.tolist(),
    }


# --------------------------------------------------------------------------------------------
# Keyframes of the most redundant episode
# --------------------------------------------------------------------------------------------


def most_redundant(
    episodes: Iterable[EpisodeRecord], still_speed: float, **kw: Any
) -> EpisodeRecord | None:
    """The successful traced episode with the largest ``redundant_share`` (ties: more steps,
    then the first seen); None if there is none."""
    best, best_key = None, None
    for ep in episodes:
        if not ep.success or ep.proprio_trace is None:
            continue
        r = redundancy(ep, still_speed, **kw)
        key = (r["redundant_share"], r["steps"])
        if best_key is None or key > best_key:
            best, best_key = ep, key
    return best


def keyframes(
    policy,
    episode: EpisodeRecord,
    make_env: Callable[[str], Any],
    *,
    n_frames: int = 5,
    camera: str = "agentview",
    sample: bool = False,
) -> dict[str, Any]:
    """Re-run ``episode`` (same task, initial state, ``h`` and seed; ``make_env(task)`` builds
    the environment) keeping observations, and return up to ``n_frames`` ``camera`` images
    from evenly spaced calls: ``{"task", "init_index", "exec_len", "seed", "frame_steps",
    "frames", "steps", "success", "reproduced"}``. ``reproduced`` says whether the re-run took
    the same number of steps with the same outcome (it may not: here the batch has one row)."""
    from ptrim.envs.batch import EnvBatch
    from ptrim.rollout import Job, rollout

    job = Job(env=0, init_state=episode.init_index, exec_len=episode.exec_len, seed=episode.seed)
    with EnvBatch([functools.partial(make_env, episode.task)]) as envs:
        [rerun] = rollout(policy, envs, [job], sample=sample, keep_obs=True)
    k = min(n_frames, rerun.n_calls)
    picks = np.unique(np.linspace(0, rerun.n_calls - 1, k).round().astype(int)) if k else []
    calls = [rerun.calls[i] for i in picks]
    return {
        "task": episode.task,
        "init_index": int(episode.init_index),
        "exec_len": int(episode.exec_len),
        "seed": int(episode.seed),
        "frame_steps": [c.step for c in calls],
        "frames": [c.obs["images"][camera] for c in calls],
        "steps": rerun.steps,
        "success": rerun.success,
        "reproduced": rerun.steps == episode.steps and rerun.success == episode.success,
    }


# --------------------------------------------------------------------------------------------
# Tables on disk
# --------------------------------------------------------------------------------------------


def variance_rows(variance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`step_variance` in long form: one row per successful repeat (task, state, steps)."""
    return [
        {"task": s["task"], "init_index": s["init_index"], "steps": steps}
        for s in variance["states"]
        for steps in s["steps"]
    ]


def tail_rows(tail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`tail_error` as rows: ``position``, ``mae``, ``count``."""
    return [
        {"position": k, "mae": e, "count": c}
        for k, e, c in zip(tail["position"], tail["mae"], tail["count"], strict=True)
    ]


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` (dicts with the same keys) as CSV, creating parent folders."""
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(list(rows)).to_csv(path, index=False)
    return path


def figure_stem(figures_dir: str | Path, name: str, model: str, suite: str) -> Path:
    """Where a profiling figure/table goes: ``<figures_dir>/<name>_<model>-<suite>`` (the
    caller adds ``.png``/``.pdf``/``.csv``), so several models and suites coexist."""
    return Path(figures_dir) / f"{name}_{model}-{suite}"


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays to Python, non-finite floats to None,
    :class:`ptrim.metrics.Estimate` to its dict, tuples to lists."""
    if isinstance(obj, metrics.Estimate):
        obj = obj.as_dict()
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj
