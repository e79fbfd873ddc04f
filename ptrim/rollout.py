"""Chunked rollout: the one place where a policy meets a simulator.

A policy proposes ``H`` actions per forward pass; the first ``h`` are executed open-loop, then
the policy is asked again. :class:`ChunkBroker` is that mechanism for one environment.
:func:`rollout` runs a list of :class:`Job` s (initial state × execution length × seed) on an
:class:`~ptrim.envs.batch.EnvBatch`: every environment works through its own jobs, environments
that need a plan are observed (rendered) and planned for together in one batched forward pass,
and environments that finished get no more forward passes. Profiling, RL and evaluation all
call it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ptrim.envs.base import Observation
from ptrim.envs.batch import EnvBatch
from ptrim.episode import CallRecord, EpisodeRecord
from ptrim.models.base import ChunkPolicy


@dataclass(frozen=True)
class Job:
    """One episode to run: on environment ``env`` of the batch, from initial state
    ``init_state``, executing ``exec_len`` actions per plan, with sampling seed ``seed``."""

    env: int
    init_state: int
    exec_len: int
    seed: int


class ChunkBroker:
    """Hands out the actions of the current plan one at a time; empty after ``h`` of them.

    ``h`` is the execution length: how many of the plan's ``H`` actions run before re-planning.
    """

    def __init__(self, exec_len: int) -> None:
        if exec_len < 1:
            raise ValueError(f"exec_len must be >= 1, got {exec_len}")
        self.exec_len = exec_len
        self._plan: np.ndarray | None = None
        self._cursor = 0
        self.record: CallRecord | None = None  # the call whose plan is being executed

    @property
    def empty(self) -> bool:
        return self._plan is None or self._cursor >= min(self.exec_len, len(self._plan))

    def load(self, plan: np.ndarray, record: CallRecord) -> None:
        if len(plan) < 1:
            raise ValueError("empty plan")
        self._plan, self._cursor, self.record = plan, 0, record

    def next_action(self) -> np.ndarray:
        if self.empty:
            raise RuntimeError("no action left in this chunk: re-plan first")
        action = self._plan[self._cursor]
        self._cursor += 1
        self.record.executed += 1
        return action


def stack_observations(observations: Sequence[Observation]) -> Observation:
    """List of per-env observations → one batch (images ``[B,S,S,3]``, proprio ``[B,D]``)."""
    first = observations[0]
    return {
        "images": {c: np.stack([o["images"][c] for o in observations]) for c in first["images"]},
        "proprio": np.stack([o["proprio"] for o in observations]),
        "instruction": [o["instruction"] for o in observations],
    }


def make_jobs(
    n_envs: int,
    init_states: Sequence[int],
    exec_lens: Sequence[int],
    *,
    repeats: int = 1,
    seed: int = 0,
) -> list[Job]:
    """Every (initial state, execution length, repeat) once, spread round-robin over the envs
    of a single-task batch; seeds are distinct per episode and independent of ``n_envs``."""
    combos = [(s, h, r) for s in init_states for h in exec_lens for r in range(repeats)]
    return [
        Job(env=k % n_envs, init_state=s, exec_len=h, seed=seed * 1_000_003 + k)
        for k, (s, h, r) in enumerate(combos)
    ]


def _device_type(policy: Any) -> str:
    """``cuda`` or ``cpu``: where ``policy``'s parameters live (``cpu`` if it has none)."""
    params = getattr(policy, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device.type if first is not None else "cpu"


def rollout(
    policy: ChunkPolicy,
    envs: EnvBatch,
    jobs: Sequence[Job],
    *,
    sample: bool = True,
    keep_obs: bool = False,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    trace: bool = False,
    bf16: bool = False,
) -> list[EpisodeRecord]:
    """Run ``jobs`` and return one :class:`EpisodeRecord` per job, in job order.

    An episode ends at the first step after which the task is solved, or at the environment's
    ``max_steps``. ``keep_obs`` stores each call's observation (RL needs it to rescore plans).
    ``on_episode`` is called as each episode finishes (progress bars, streaming to disk).
    ``trace`` records every step's executed action and the proprioception after it (plus the
    one after reset) into ``proprio_trace``/``action_trace``; it needs environments with a
    ``proprio()`` method, and the extra reads are not counted in ``env_time_s``.
    ``bf16`` plans under bf16 autocast (``rl.precision``: RL samples in the precision it will
    score in, so the first PPO ratio is 1).
    """
    H = policy.plan_horizon
    autocast = torch.autocast(_device_type(policy), torch.bfloat16, enabled=bf16)
    for j in jobs:
        if not 1 <= j.exec_len <= H:
            raise ValueError(f"{j}: exec_len must be in 1..H = {H}")
        if not 0 <= j.env < len(envs):
            raise ValueError(f"{j}: batch has {len(envs)} environments")
    queues = {i: deque() for i in range(len(envs))}
    for k, j in enumerate(jobs):
        queues[j.env].append(k)

    records: list[EpisodeRecord | None] = [None] * len(jobs)
    running: dict[int, tuple[int, EpisodeRecord, ChunkBroker, torch.Generator]] = {}
    traces: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}  # env: (proprio, actions)

    def start_next(envs_to_start: list[int]) -> None:
        starts = {i: queues[i].popleft() for i in envs_to_start if queues[i]}
        t0 = time.perf_counter()
        envs.reset({i: jobs[k].init_state for i, k in starts.items()})
        reset_share = (time.perf_counter() - t0) / max(len(starts), 1)
        for i, k in starts.items():
            job, env = jobs[k], envs.info(i)
            rec = EpisodeRecord(
                benchmark=env.benchmark,
                suite=env.suite,
                task=env.task,
                init_index=job.init_state,
                seed=job.seed,
                plan_horizon=H,
                exec_len=job.exec_len,
                max_steps=env.max_steps,
                control_hz=env.control_hz,
            )
            rec.env_time_s += reset_share
            gen = torch.Generator().manual_seed(job.seed)
            running[i] = (k, rec, ChunkBroker(job.exec_len), gen)
        if trace and starts:
            for i, p in zip(starts, envs.proprio(list(starts)), strict=True):
                traces[i] = ([p], [])

    start_next(list(queues))
    while running:
        # 1. re-plan for every running environment whose chunk is used up
        need = [i for i, (_, _, broker, _) in running.items() if broker.empty]
        if need:
            t0 = time.perf_counter()
            observations = envs.observe(need)
            t1 = time.perf_counter()
            with autocast:
                plan = policy.plan(
                    stack_observations(observations),
                    sample=sample,
                    generator=[running[i][3] for i in need],
                )
            t2 = time.perf_counter()
            actions = np.asarray(plan.actions)
            if actions.shape[:2] != (len(need), H):
                raise ValueError(
                    f"policy returned plans of shape {actions.shape}, "
                    f"expected ({len(need)}, {H}, action_dim)"
                )
            for row, i in enumerate(need):
                _, rec, broker, _ = running[i]
                acts, replay = plan.row(row)
                call = CallRecord(
                    step=rec.steps,
                    plan=acts,
                    executed=0,
                    latency_s=t2 - t1,
                    batch_size=len(need),
                    replay=replay,
                    obs=observations[row] if keep_obs else None,
                )
                rec.calls.append(call)
                rec.render_time_s += (t1 - t0) / len(need)
                rec.policy_time_s += (t2 - t1) / len(need)
                broker.load(acts, call)

        # 2. one action for every running environment
        actions = {i: broker.next_action() for i, (_, _, broker, _) in running.items()}
        t0 = time.perf_counter()
        solved = envs.step(actions)
        share = (time.perf_counter() - t0) / len(solved)
        if trace:
            for i, p in zip(solved, envs.proprio(list(solved)), strict=True):
                traces[i][0].append(p)
                traces[i][1].append(actions[i])

        # 3. book-keeping; finished environments move on to their next job
        finished = []
        for i, ok in solved.items():
            k, rec, _, _ = running[i]
            rec.steps += 1
            rec.env_time_s += share
            if ok:
                rec.success, rec.success_step = True, rec.steps
            if ok or rec.steps >= rec.max_steps:
                if trace:
                    proprio, acts = traces.pop(i)
                    rec.proprio_trace, rec.action_trace = np.stack(proprio), np.stack(acts)
                records[k] = rec
                finished.append(i)
                del running[i]
                if on_episode is not None:
                    on_episode(rec)
        if finished:
            start_next(finished)
    return records  # type: ignore[return-value]
