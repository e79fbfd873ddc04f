"""A batch of environments stepped together between policy calls.

``workers="inline"`` (the default) steps every environment in the calling process, one after the
other. On a 2-core machine this is the right choice: the policy's torch threads and the simulator
never compete for the cores.

``workers="subprocess"`` gives each environment its own process and steps them in parallel
(commands are sent to all workers, then answers collected). Use it when there are more cores
than torch threads; with it, give torch fewer threads (``torch.set_num_threads``) or the
oversubscription slows inference 3–14× (measured on 2 cores).
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ptrim.envs.base import Env, Observation

EnvFactory = Callable[[], Env]
_DESCRIBE = ("benchmark", "suite", "task", "instruction", "control_hz", "max_steps", "action_dim")


class _Inline:
    """Same call/wait protocol as a worker process, executed on wait."""

    def __init__(self, factory: EnvFactory) -> None:
        self.env = factory()
        self._pending: tuple[str, tuple] | None = None

    def send(self, method: str, *args: Any) -> None:
        self._pending = (method, args)

    def recv(self) -> Any:
        method, args = self._pending
        self._pending = None
        return getattr(self.env, method)(*args)

    def close(self) -> None:
        self.env.close()


def _worker_main(conn, factory: EnvFactory) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        env = factory()
        conn.send(("ok", {k: getattr(env, k) for k in _DESCRIBE}))
    except Exception:  # report the failure to the parent instead of dying silently
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        method, args = conn.recv()
        if method == "close":
            env.close()
            conn.send(("ok", None))
            return
        try:
            conn.send(("ok", getattr(env, method)(*args)))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class _Process:
    def __init__(self, factory: EnvFactory) -> None:
        ctx = mp.get_context("spawn")  # no fork of an EGL context or torch thread pool
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker_main, args=(child, factory), daemon=True)
        self._proc.start()
        self._attrs = self._answer()

    def _answer(self) -> Any:
        status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"environment worker failed:\n{value}")
        return value

    def __getattr__(self, name: str) -> Any:
        attrs = self.__dict__.get("_attrs") or {}
        if name in attrs:
            return attrs[name]
        raise AttributeError(name)

    def send(self, method: str, *args: Any) -> None:
        self._conn.send((method, args))

    def recv(self) -> Any:
        return self._answer()

    def close(self) -> None:
        if self._proc.is_alive():
            self._conn.send(("close", ()))
            self._answer()
            self._proc.join(timeout=10)


class EnvBatch:
    """``N`` environments (possibly of different tasks) driven by one rollout loop."""

    def __init__(self, factories: Sequence[EnvFactory], workers: str = "inline") -> None:
        if workers not in ("inline", "subprocess"):
            raise ValueError(f"workers = {workers!r}: allowed 'inline' or 'subprocess'")
        member = _Inline if workers == "inline" else _Process
        self.workers = workers
        self._members = [member(f) for f in factories]

    def __len__(self) -> int:
        return len(self._members)

    def info(self, i: int) -> Any:
        """Attributes of environment ``i`` (``instruction``, ``max_steps``, ``control_hz``…)."""
        m = self._members[i]
        return m.env if isinstance(m, _Inline) else m

    def _call(self, method: str, args: dict[int, tuple]) -> dict[int, Any]:
        for i, a in args.items():
            self._members[i].send(method, *a)
        return {i: self._members[i].recv() for i in args}

    def reset(self, init_states: dict[int, int]) -> None:
        self._call("reset", {i: (s,) for i, s in init_states.items()})

    def step(self, actions: dict[int, np.ndarray]) -> dict[int, bool]:
        """Step the given environments; returns ``{env index: solved after this step}``."""
        return self._call("step", {i: (a,) for i, a in actions.items()})

    def observe(self, indices: Sequence[int]) -> list[Observation]:
        out = self._call("observe", {i: () for i in indices})
        return [out[i] for i in indices]

    def proprio(self, indices: Sequence[int]) -> list[np.ndarray]:
        """Proprioception of the given environments (their ``proprio()``), without rendering."""
        out = self._call("proprio", {i: () for i in indices})
        return [out[i] for i in indices]

    def close(self) -> None:
        for m in self._members:
            m.close()
        self._members = []

    def __enter__(self) -> EnvBatch:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EnvPool:
    """One :class:`EnvBatch` of ``size`` environments per task, kept open across iterations
    (building a LIBERO environment takes seconds). When a new task's batch would bring the
    total above ``max_envs``, the least recently used batches are closed first (the batch being
    built is always allowed)."""

    def __init__(
        self, factory: Callable[[str], Any], size: int, workers: str, max_envs: int
    ) -> None:
        self.factory, self.size, self.workers, self.max_envs = factory, size, workers, max_envs
        self._open: dict[str, EnvBatch] = {}  # least recently used first

    def get(self, task: str) -> tuple[EnvBatch, float]:
        """The batch of ``task`` and the seconds spent building it now (0 if it was open)."""
        if task in self._open:
            self._open[task] = self._open.pop(task)  # most recently used
            return self._open[task], 0.0
        while self._open and (len(self._open) + 1) * self.size > self.max_envs:
            self._open.pop(next(iter(self._open))).close()
        t0 = time.perf_counter()
        factory = functools.partial(self.factory, task)
        self._open[task] = EnvBatch([factory] * self.size, workers=self.workers)
        return self._open[task], time.perf_counter() - t0

    def close(self) -> None:
        for batch in self._open.values():
            batch.close()
        self._open = {}

    def __enter__(self) -> EnvPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
