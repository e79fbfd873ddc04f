"""Where a GRPO iteration's time goes, and how it would scale with rollout workers
(``python -m ptrim.bench scale``).

An iteration (:meth:`ptrim.trainer.GRPOTrainer.run_iteration`) is *sync* (weights to the
workers), *interact* (the groups' episodes), *score* (negligible) and *update* (PPO on the kept
chunks). This module measures each part for real on this machine — rollout throughput of the
local backend and of 1 and 2 Ray workers on a real simulator task, the cost of a sync, the
learner's update time on the CPU (and on a GPU where one is present) — and projects the
iteration time for more workers from those per-worker numbers (:func:`project`). The projection
is arithmetic, not a measurement: it assumes every worker keeps the throughput one worker had
here (one core each, no contention) and says so wherever it is written.

Two batch sizes are projected, because a GRPO group never splits across workers
(:func:`ptrim.ray_backend.leases`):

* ``fixed``: the profile's ``rl.groups_per_iter`` groups. Beyond that many workers the extra
  ones sit idle, so the iteration stops getting faster.
* ``per_worker``: one group per worker per iteration (the batch grows with the cluster, as a
  paper-scale run would configure it), so rollout time stays flat and the update grows.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptrim.backend import Rollouts, Run, Work
from ptrim.grpo import Chunk

PROJECTION_LABEL = "projection from measured per-worker numbers (not measured at this scale)"


# ============================================================================================
# Rollout throughput
# ============================================================================================


@dataclass(frozen=True)
class Throughput:
    """Episodes a backend ran in ``wall_s`` seconds (environments built and policy loaded
    beforehand), and the seconds one :meth:`~ptrim.backend.Rollouts.sync` took."""

    backend: str  # "local" or "ray"
    workers: int  # 1 for local
    episodes: int
    env_steps: int
    policy_calls: int
    wall_s: float
    sync_s: float

    @property
    def episodes_per_s(self) -> float:
        return self.episodes / self.wall_s

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.wall_s

    def row(self) -> dict[str, Any]:
        return asdict(self) | {
            "episodes_per_s": self.episodes_per_s,
            "steps_per_s": self.steps_per_s,
        }


def groups_work(task: str, groups: int, group_size: int, exec_len: int, seed: int) -> list[Work]:
    """``groups`` GRPO-like groups of one task: group ``g`` starts ``group_size`` episodes from
    initial state ``g`` with distinct seeds."""
    return [
        Work(task, tuple(Run(g, exec_len, seed + g * group_size + j) for j in range(group_size)))
        for g in range(groups)
    ]


def measure_rollouts(
    rollouts: Rollouts,
    policy: Any,
    work: Sequence[Work],
    *,
    backend: str,
    workers: int,
    warmup: Sequence[Work],
) -> Throughput:
    """Time ``rollouts.run(work)`` after ``warmup`` has started the workers, built their
    environments and loaded the policy, so the number is steady-state throughput as in a long
    run; ``sync_s`` times a later sync (new weights, as every iteration sends), whose loading
    by the workers falls in the timed run."""
    rollouts.sync(policy)  # the first one starts the workers and ships the model's files
    rollouts.run(warmup, sample=True)
    started = time.perf_counter()
    rollouts.sync(policy)
    sync_s = time.perf_counter() - started
    started = time.perf_counter()
    episodes = rollouts.run(work, sample=True)
    wall = time.perf_counter() - started
    return Throughput(
        backend=backend,
        workers=workers,
        episodes=len(episodes),
        env_steps=sum(e.steps for e in episodes),
        policy_calls=sum(e.n_calls for e in episodes),
        wall_s=wall,
        sync_s=sync_s,
    )


# ============================================================================================
# Learner update time
# ============================================================================================


def synthetic_chunks(
    policy: Any,
    n: int,
    *,
    image_size: int,
    cameras: Sequence[str],
    proprio_dim: int,
    exec_len: int,
    seed: int = 0,
) -> list[Chunk]:
    """``n`` chunks shaped like a rollout's (random images and proprioception, plans the policy
    itself sampled, advantages ±1), for timing an update without a simulator."""
    import torch

    from ptrim.rollout import stack_observations

    rng = np.random.default_rng(seed)
    obs = [
        {
            "images": {
                c: rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)
                for c in cameras
            },
            "proprio": rng.standard_normal(proprio_dim).astype(np.float32),
            "instruction": "pick up the alphabet soup and place it in the basket",
        }
        for _ in range(n)
    ]
    chunks: list[Chunk] = []
    for start in range(0, n, 32):
        part = obs[start : start + 32]
        gens = [torch.Generator().manual_seed(seed + start + i) for i in range(len(part))]
        with torch.no_grad():
            plan = policy.plan(stack_observations(part), sample=True, generator=gens)
        for i, o in enumerate(part):
            actions, replay = plan.row(i)
            logp_old = float(np.sum(np.asarray(replay["log_prob"])[:exec_len]))
            advantage = 1.0 if (start + i) % 2 else -1.0
            chunks.append(Chunk(o, actions, replay, exec_len, advantage, logp_old))
    return chunks


def measure_update(
    policy: Any, chunks: Sequence[Chunk], settings: Any, *, repeats: int = 3
) -> float:
    """Median seconds of one PPO update (:func:`ptrim.grpo.ppo_update`, the trainer's *update*
    step with :class:`~ptrim.grpo.PPOSettings` ``settings``: epochs × minibatches optimizer
    steps, ``micro_batch`` chunks per forward) over ``chunks``, after one warm-up update;
    CUDA synchronised."""
    import torch

    from ptrim import grpo

    params = list(policy.trainable_in_rl())
    optimizer = torch.optim.AdamW(params, lr=1e-6)
    device = next(policy.parameters()).device

    def update() -> float:
        started = time.perf_counter()
        with grpo.only_training(policy, params):
            grpo.ppo_update(
                policy, optimizer, chunks, settings, generator=torch.Generator().manual_seed(0)
            )
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    update()
    return statistics.median(update() for _ in range(repeats))


# ============================================================================================
# Projection
# ============================================================================================


@dataclass(frozen=True)
class Iteration:
    """What one iteration needs, from measurements: one worker's episodes per second, a sync,
    the update's seconds per chunk on each learner device, chunks per episode."""

    episodes_per_s_per_worker: float
    sync_s: float
    update_s_per_chunk: dict[str, float]  # learner device -> seconds per chunk
    chunks_per_episode: float
    group_size: int
    groups_per_iter: int


def project(it: Iteration, workers: Sequence[int]) -> list[dict[str, Any]]:
    """Projected iteration seconds for each worker count, batch (``fixed``, ``per_worker``) and
    learner device: ``sync + ⌈groups / workers⌉ · G / r + chunks · u`` where ``r`` is one
    worker's episodes per second and ``u`` the update's seconds per chunk."""
    rows = []
    for n in workers:
        for batch, groups in (("fixed", it.groups_per_iter), ("per_worker", n)):
            waves = math.ceil(groups / n)  # groups a busiest worker runs one after another
            rollout_s = waves * it.group_size / it.episodes_per_s_per_worker
            episodes = groups * it.group_size
            chunks = episodes * it.chunks_per_episode
            for device, per_chunk in it.update_s_per_chunk.items():
                update_s = chunks * per_chunk
                total = it.sync_s + rollout_s + update_s
                rows.append(
                    {
                        "workers": n,
                        "batch": batch,
                        "learner": device,
                        "groups": groups,
                        "episodes": episodes,
                        "busy_workers": min(n, groups),
                        "sync_s": it.sync_s,
                        "rollout_s": rollout_s,
                        "update_s": update_s,
                        "iteration_s": total,
                        "episodes_per_s": episodes / total,
                        "kind": "projection",
                    }
                )
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """``rows`` as CSV (columns: the union of keys, in first-seen order)."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
    return path


def _fmt(v: Any) -> Any:
    return f"{v:.4g}" if isinstance(v, float) else v


def plot(measured: Sequence[Throughput], projected: Sequence[dict[str, Any]], path: str | Path):
    """Left: measured episodes/s per backend. Middle and right, projected per worker count, one
    line per batch × learner device: iteration time, and episodes trained per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(16, 4.8), width_ratios=[1, 1.5, 1.5])
    labels = [f"{t.backend}\n{t.workers} worker{'s' * (t.workers > 1)}" for t in measured]
    left.bar(labels, [t.episodes_per_s for t in measured], color="tab:blue")
    for i, t in enumerate(measured):
        left.text(i, t.episodes_per_s, f"{t.episodes_per_s:.3f}", ha="center", va="bottom")
    left.set_ylabel("episodes / s")
    left.set_title("measured on this machine")
    styles = {"fixed": "-", "per_worker": "--"}
    workers = sorted({r["workers"] for r in projected})
    for (batch, device), rows in _by(projected, ("batch", "learner")).items():
        label = f"{batch.replace('_', ' ')} batch, learner on {device}"
        x = [r["workers"] for r in rows]
        mid.plot(x, [r["iteration_s"] for r in rows], styles[batch], marker="o", label=label)
        right.plot(x, [r["episodes_per_s"] for r in rows], styles[batch], marker="o")
    for ax, ylabel in ((mid, "iteration time (s)"), (right, "episodes trained / s")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(workers)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("rollout workers (one core each)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    mid.legend(fontsize=8)
    fig.suptitle(PROJECTION_LABEL + " (middle, right)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _by(rows: Sequence[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out
