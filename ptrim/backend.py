"""Where episodes run: in this process (``rollout.backend: local``) or on Ray actors (``ray``).

Training and evaluation describe their episodes as :class:`Work`: a task and the
``(initial state, h, seed)`` runs that belong together (a GRPO group, or an evaluation's
repeats from one initial state). A backend runs a list of them with the policy it was last
given (:meth:`sync`) and returns one :class:`~ptrim.episode.EpisodeRecord` per run, in order.
Episodes depend only on ``(task, initial state, h, seed)`` (resets are bit-exact, noise comes
from per-episode generators), so both backends return the same episodes.

* :class:`LocalRollouts`: each task's :class:`~ptrim.envs.batch.EnvBatch` of
  ``rollout.num_envs`` environments in this process (:class:`~ptrim.envs.batch.EnvPool`), the
  very policy object passed to :meth:`~LocalRollouts.sync` (nothing is copied).
* :class:`ptrim.ray_backend.RayRollouts`: actors with their own environments and a copy of the
  policy's weights (imported only when selected: the default path never imports ``ray``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from ptrim.envs.batch import EnvBatch, EnvPool
from ptrim.episode import EpisodeRecord
from ptrim.rollout import Job, rollout

EnvFactory = Callable[[str], Any]  # task name -> a fresh environment of that task
OnEpisode = Callable[[EpisodeRecord], None]


class Run(NamedTuple):
    """One episode: from ``init_state``, executing ``exec_len`` actions per plan, noise seed."""

    init_state: int
    exec_len: int
    seed: int


@dataclass(frozen=True)
class Work:
    """Runs of one task that stay together on one worker (a GRPO group: one initial state)."""

    task: str
    runs: tuple[Run, ...]


class Rollouts(Protocol):
    """What the trainer and the evaluation need from a backend."""

    def sync(self, policy: Any) -> None: ...

    def run(
        self,
        work: Sequence[Work],
        *,
        sample: bool,
        keep_obs: bool = False,
        trace: bool = False,
        bf16: bool = False,
        on_episode: OnEpisode | None = None,
    ) -> list[EpisodeRecord]: ...

    build_s: float  # seconds spent building environments so far

    def close(self) -> None: ...


def run_on(policy: Any, envs: EnvBatch, runs: Sequence[Run], **options: Any) -> list[EpisodeRecord]:
    """``runs`` of one task on ``envs``, spread round-robin (:func:`ptrim.rollout.rollout`)."""
    jobs = [Job(k % len(envs), *run) for k, run in enumerate(runs)]
    return rollout(policy, envs, jobs, **options)


class LocalRollouts:
    """Every episode in this process: one batch of ``size`` environments per task, kept open
    (at most ``max_envs``; :class:`~ptrim.envs.batch.EnvPool`)."""

    def __init__(self, env_factory: EnvFactory, size: int, workers: str, max_envs: int) -> None:
        self.envs = EnvPool(env_factory, size, workers, max_envs)
        self.size = size
        self.policy: Any = None
        self.build_s = 0.0

    def sync(self, policy: Any) -> None:
        self.policy = policy  # the rollouts call the very object being trained

    def run(
        self,
        work: Sequence[Work],
        *,
        sample: bool,
        keep_obs: bool = False,
        trace: bool = False,
        bf16: bool = False,
        on_episode: OnEpisode | None = None,
    ) -> list[EpisodeRecord]:
        """The runs of ``work`` in order; all runs of a task share its batch, round-robin."""
        if self.policy is None:
            raise RuntimeError("sync(policy) before run()")
        runs = [(w.task, run) for w in work for run in w.runs]
        by_task: dict[str, list[int]] = {}  # in order of first appearance
        for p, (task, _) in enumerate(runs):
            by_task.setdefault(task, []).append(p)
        out: list[EpisodeRecord | None] = [None] * len(runs)
        for task, positions in by_task.items():
            envs, build_s = self.envs.get(task)
            self.build_s += build_s
            episodes = run_on(
                self.policy,
                envs,
                [runs[p][1] for p in positions],
                sample=sample,
                keep_obs=keep_obs,
                trace=trace,
                bf16=bf16,
                on_episode=on_episode,
            )
            for p, ep in zip(positions, episodes, strict=True):
                out[p] = ep
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.envs.close()

    def __enter__(self) -> LocalRollouts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_rollouts(rollout_cfg: Any, env_factory: EnvFactory, *, max_envs: int) -> Rollouts:
    """The backend ``rollout.backend`` names, building environments with ``env_factory``
    (picklable for Ray: a ``functools.partial`` of a module-level function)."""
    if rollout_cfg.backend == "ray":
        from ptrim.ray_backend import RayRollouts

        return RayRollouts(env_factory, rollout_cfg.ray, max_envs=max_envs)
    return LocalRollouts(env_factory, rollout_cfg.num_envs, rollout_cfg.workers, max_envs)
