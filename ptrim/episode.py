"""Episode records: what one rollout leaves behind.

The rollout writes them, metrics/rewards/trainer read them. Plain dataclasses of numbers and
arrays, so the same record serves profiling, RL and evaluation and can be saved as JSON
(without the arrays) for the committed metrics.

Conventions
-----------
* ``steps`` counts env steps actually taken (1-based): an episode that succeeds on its 37th
  step has ``steps == 37`` and ``success_step == 37``.
* ``success_step`` is the step count at the *first* success, ``None`` if the episode failed.
  The authors' code uses the 0-based index (``success_step - 1``); rewards convert.
* One :class:`CallRecord` per policy forward pass; ``executed`` is how many of its ``H``
  actions reached the simulator (``h``, or fewer when the episode ended inside the chunk).
* With ``rollout(..., trace=True)`` a record also carries the per-step trajectory:
  ``proprio_trace[0]`` is the proprioception after reset and ``proprio_trace[t]`` the one after
  step ``t`` (so ``steps + 1`` rows); ``action_trace[t - 1]`` is the action of step ``t``.
  Both stay ``None`` otherwise, and neither is written by :meth:`EpisodeRecord.summary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

_ARRAYS = ("calls", "proprio_trace", "action_trace")  # fields summary() leaves out


@dataclass
class CallRecord:
    """One policy forward pass inside an episode."""

    step: int  # env steps taken before this call (0 for the first call)
    plan: np.ndarray  # [H, action_dim] actions the policy proposed
    executed: int  # how many of them were executed (<= h)
    latency_s: float  # wall time of the forward pass this plan came from (the whole batch)
    batch_size: int = 1  # rows in that forward pass (latency is only comparable at equal batch)
    obs: dict[str, Any] | None = None  # the observation the plan was made from (kept for RL)
    replay: dict[str, Any] = field(default_factory=dict)  # sampling noise / tokens to rescore


@dataclass
class EpisodeRecord:
    """One rollout from one initial state at one execution length."""

    benchmark: str  # e.g. "libero"
    suite: str  # e.g. "libero_object"
    task: str  # task name
    init_index: int  # index of the initial state in the task's evaluation set
    seed: int  # seed of the policy's sampling noise for this episode
    plan_horizon: int  # H: actions per plan
    exec_len: int  # h: actions executed per plan before re-planning (requested)
    max_steps: int  # step limit of this episode
    control_hz: float  # the benchmark's control rate
    success: bool = False
    success_step: int | None = None  # step count at first success (1-based), None if failed
    steps: int = 0  # env steps taken
    calls: list[CallRecord] = field(default_factory=list)
    policy_time_s: float = 0.0  # this episode's share of forward-pass wall time (latency / batch)
    env_time_s: float = 0.0  # wall time spent stepping the simulator
    render_time_s: float = 0.0  # wall time spent rendering observations for the policy
    proprio_trace: np.ndarray | None = None  # [steps + 1, D] proprio after reset and each step
    action_trace: np.ndarray | None = None  # [steps, action_dim] the executed actions

    @property
    def n_calls(self) -> int:
        return len(self.calls)

    @property
    def executed_actions(self) -> int:
        return sum(c.executed for c in self.calls)

    @property
    def mean_exec_len(self) -> float:
        """Actions executed per forward pass, averaged over this episode's calls."""
        return self.executed_actions / self.n_calls if self.calls else 0.0

    def summary(self) -> dict[str, Any]:
        """Scalars only: what gets written to metrics JSON (no calls' arrays, no traces)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _ARRAYS}
        d["calls"] = self.n_calls
        d["mean_exec_len"] = self.mean_exec_len
        return d

    @classmethod
    def from_summary(cls, d: dict[str, Any]) -> EpisodeRecord:
        """Rebuild a record (without per-call arrays) from :meth:`summary` output.

        Calls are restored as placeholders carrying only their executed counts, spread as
        evenly as the summary allows, so metrics computed from the summary match the original.
        """
        d = dict(d)
        n_calls = int(d.pop("calls"))
        mean_exec = float(d.pop("mean_exec_len"))
        rec = cls(**d)
        total = round(mean_exec * n_calls)
        base, extra = divmod(total, n_calls) if n_calls else (0, 0)
        empty = np.zeros((0, 0), dtype=np.float32)
        rec.calls = [
            CallRecord(step=0, plan=empty, executed=base + (1 if i < extra else 0), latency_s=0.0)
            for i in range(n_calls)
        ]
        return rec
