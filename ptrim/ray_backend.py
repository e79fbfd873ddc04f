"""Rollouts on Ray actors (``rollout.backend: ray``; ``pip install .[ray]``).

* **Workers.** ``rollout.ray.num_workers`` actors (:class:`RolloutWorker`, one CPU each, torch
  on one thread), each with its own environments: one batch of ``envs_per_worker`` per task,
  built by the picklable ``env_factory(task)`` and kept open (:class:`~ptrim.envs.batch.EnvPool`).
* **Weights.** :meth:`RayRollouts.sync` puts the policy's state dict, as safetensors bytes, in
  the object store once per call (once per GRPO iteration). A policy object the backend has
  not seen also puts its ``save_pretrained`` files (config, tokenizer, weights), from which a
  worker rebuilds it (``from_pretrained``); no model code is pickled beyond the class's import
  path. Workers fetch and load the bytes before their next episodes, only when the version
  changed, and run the policy in eval mode.
* **Assignment.** :func:`leases` packs consecutive :class:`~ptrim.backend.Work` items of one
  task into leases of about ``envs_per_worker`` episodes (never splitting an item, so a GRPO
  group runs on one actor from one initial state); idle actors take the next lease. Every
  episode keeps the seed the local backend would give it, so the episodes are the same.
* **Faults.** A lease whose actor died (killed, out of memory, node lost) goes back to the
  front of the queue; the actor is replaced by a fresh one (which rebuilds its environments
  and the policy). Episodes come back only with their whole lease, so none is lost or counted
  twice. After :data:`MAX_REPLACEMENTS` replacements in one :meth:`RayRollouts.run` it gives up.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
import torch
from safetensors.torch import load as tensors_from_bytes
from safetensors.torch import save as tensors_to_bytes

from ptrim.backend import EnvFactory, OnEpisode, Work, run_on
from ptrim.envs.batch import EnvPool
from ptrim.episode import EpisodeRecord

MAX_REPLACEMENTS = 8  # dead actors replaced within one run() before it raises


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address``, or (``None``) start Ray on this machine with all
    its cores, quietly and without a dashboard; nothing if Ray is already up. True if this
    call started it."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **quiet)
    else:
        ray.init(address=address, **quiet)
    return True


# ============================================================================================
# What travels: the policy's files once, its weights once per sync
# ============================================================================================


def policy_files(policy: Any) -> tuple[type, dict[str, bytes]]:
    """The policy's class and its ``save_pretrained`` files: what rebuilds it elsewhere."""
    with tempfile.TemporaryDirectory() as d:
        policy.save_pretrained(d)
        return type(policy), {p.name: p.read_bytes() for p in Path(d).iterdir() if p.is_file()}


def rebuild(cls: type, files: dict[str, bytes]) -> Any:
    """The policy :func:`policy_files` describes (``cls.from_pretrained``), in eval mode."""
    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        return cls.from_pretrained(d).eval()


def weights_bytes(policy: Any) -> bytes:
    """The state dict as safetensors bytes, on the CPU (tied tensors copied per key)."""
    state = policy.state_dict()
    return tensors_to_bytes({k: v.detach().to("cpu", copy=True) for k, v in state.items()})


# ============================================================================================
# A worker
# ============================================================================================


class RolloutWorker:
    """Runs leases: its own environments, a copy of the policy (a Ray actor: :data:`Actor`)."""

    def __init__(self, env_factory: EnvFactory, size: int, max_envs: int) -> None:
        torch.set_num_threads(1)  # one CPU per actor: torch never competes with the simulator
        if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
            # Ray hides GPUs from a CPU actor with an empty list, which robosuite's EGL device
            # choice cannot parse (ValueError); unset, EGL renders on what it finds (llvmpipe)
            del os.environ["CUDA_VISIBLE_DEVICES"]
        self.envs = EnvPool(env_factory, size, "inline", max_envs)
        self.policy: Any = None
        self.loaded: tuple[int, int] | None = None  # (policy id, weights version)

    def run(
        self, model: list, weights: list, key: tuple[int, int], lease: Sequence[Work], **options
    ) -> tuple[list[EpisodeRecord], float]:
        """The episodes of ``lease`` (one task) in order, and the seconds spent building
        environments. ``model`` and ``weights`` hold one object reference each (boxed, so
        Ray fetches them only when ``key`` says they changed)."""
        self.load(model, weights, key)
        envs, build_s = self.envs.get(lease[0].task)
        runs = [run for w in lease for run in w.runs]
        return run_on(self.policy, envs, runs, **options), build_s

    def load(self, model: list, weights: list, key: tuple[int, int]) -> None:
        if key == self.loaded:
            return
        if self.loaded is None or key[0] != self.loaded[0]:
            self.policy = rebuild(*ray.get(model[0]))
        self.policy.load_state_dict(tensors_from_bytes(ray.get(weights[0])))
        self.loaded = key


Actor = ray.remote(num_cpus=1)(RolloutWorker)


# ============================================================================================
# The backend
# ============================================================================================


def leases(work: Sequence[Work], capacity: int) -> list[list[int]]:
    """Indices of ``work`` packed in order into leases: consecutive items of one task, about
    ``capacity`` episodes each (at least one item; an item is never split)."""
    out: list[list[int]] = []
    size = 0
    for i, w in enumerate(work):
        last = out[-1] if out else None
        if last and work[last[0]].task == w.task and size + len(w.runs) <= capacity:
            last.append(i)
            size += len(w.runs)
        else:
            out.append([i])
            size = len(w.runs)
    return out


class RayRollouts:
    """``ray.num_workers`` :class:`RolloutWorker` actors (module docstring). Ray is joined
    (or started) and the actors created on the first :meth:`sync`."""

    def __init__(self, env_factory: EnvFactory, ray_cfg: Any, *, max_envs: int) -> None:
        self.env_factory, self.cfg, self.max_envs = env_factory, ray_cfg, max_envs
        self.actors: list[Any] = []
        self.build_s = 0.0  # environment building, summed over workers
        self.replaced = 0  # actors replaced after they died
        self._replaced_now = 0  # ... during the current run()
        self._started_ray = False
        self._policy: Any = None
        self._model: Any = None  # object ref of policy_files
        self._weights: Any = None  # object ref of weights_bytes
        self._key = (0, 0)  # (policy id, weights version)
        self._busy: dict[Any, tuple[int, int]] = {}  # result ref -> (actor slot, lease)

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if not self.actors:
            self._started_ray = connect(self.cfg.address) or self._started_ray
            self.actors = [self._new_actor() for _ in range(self.cfg.num_workers)]

    def _new_actor(self) -> Any:
        return Actor.remote(self.env_factory, self.cfg.envs_per_worker, self.max_envs)

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors, self._busy = [], {}
        self._policy = self._model = self._weights = None  # a later sync() starts afresh
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> RayRollouts:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------ sync
    def sync(self, policy: Any) -> None:
        """Put ``policy``'s weights in the object store (and its files, if it is new here)."""
        self.start()
        model_id, version = self._key
        if policy is not self._policy:
            self._policy, model_id = policy, model_id + 1
            self._model = ray.put(policy_files(policy))
        self._weights = ray.put(weights_bytes(policy))
        self._key = (model_id, version + 1)

    # ------------------------------------------------------------------------ interact
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
        """The runs of ``work`` in order, on the actors, with the weights of the last sync."""
        if self._weights is None:
            raise RuntimeError("sync(policy) before run()")
        options = {"sample": sample, "keep_obs": keep_obs, "trace": trace, "bf16": bf16}
        leased = [[work[i] for i in lease] for lease in leases(work, self.cfg.envs_per_worker)]
        todo, done = deque(range(len(leased))), {}
        self._replaced_now = 0
        try:
            while todo or self._busy:
                self._hand_out(todo, leased, options)
                lease, episodes = self._next_result(todo)
                if episodes is None:
                    continue  # its actor died: the lease is queued again
                if lease in done:
                    raise RuntimeError(f"lease {lease} came back twice")
                done[lease] = episodes
                for ep in episodes if on_episode else ():
                    on_episode(ep)
        finally:
            self._busy = {}  # after an error, leases still running elsewhere are forgotten
        return [ep for lease in range(len(leased)) for ep in done[lease]]

    def in_flight(self) -> list[int]:
        """Slots (indices into ``actors``) of the actors running a lease now."""
        return sorted(slot for slot, _ in self._busy.values())

    def _hand_out(self, todo: deque, leased: list[list[Work]], options: dict) -> None:
        """The next leases to the idle actors."""
        busy = {slot for slot, _ in self._busy.values()}
        for slot, actor in enumerate(self.actors):
            if todo and slot not in busy:
                lease = todo.popleft()
                box = ([self._model], [self._weights], self._key)
                ref = actor.run.remote(*box, leased[lease], **options)
                self._busy[ref] = (slot, lease)

    def _next_result(self, todo: deque) -> tuple[int, list[EpisodeRecord] | None]:
        """The next lease to finish and its episodes; ``None`` if its actor died, in which
        case the actor is replaced and the lease goes back to the front of ``todo``."""
        [ref], _ = ray.wait(list(self._busy), num_returns=1)
        slot, lease = self._busy.pop(ref)
        try:
            episodes, build_s = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self._replace(slot, exc)
            todo.appendleft(lease)
            return lease, None
        self.build_s += build_s
        return lease, episodes

    def _replace(self, slot: int, exc: Exception) -> None:
        if self._replaced_now >= MAX_REPLACEMENTS:
            raise RuntimeError(f"{MAX_REPLACEMENTS} rollout workers died in one run") from exc
        ray.kill(self.actors[slot])
        self.actors[slot] = self._new_actor()
        self.replaced += 1
        self._replaced_now += 1
