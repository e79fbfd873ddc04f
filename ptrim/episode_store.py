"""Finished episodes on disk, so a long evaluation killed part-way resumes where it stopped.

Profiling one policy runs ~800 episodes (an hour or more on 2 cores); a session that ends in
the middle loses nothing with a store: :func:`ptrim.evaluate.evaluate` saves each task's
episodes as soon as they finish and, run again with the same arguments, loads them instead
of re-running them.

A batch is found by its *key*: everything that decides its episodes (the policy's weights, the
simulator settings, task, initial states, ``h``, sampling, seed). Change any of them and the
key changes, so a stale batch is never reused; nothing is ever overwritten in place.

Files are ``<root>/<sha256 of the key>.npz`` written with ``allow_pickle=False``: the key and
the per-episode scalars and per-call counts/latencies as JSON, the traces as arrays. Plans and
observations are not kept (profiling and evaluation read neither from the records).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ptrim.episode import CallRecord, EpisodeRecord

_CALL_FIELDS = ("step", "executed", "latency_s", "batch_size")
_NO_PLAN = np.zeros((0, 0), dtype=np.float32)


def weights_fingerprint(module) -> str:
    """sha256 over a torch module's parameters and buffers (names, dtypes, shapes, values)."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def key_digest(key: Mapping[str, Any]) -> str:
    """Canonical JSON of ``key`` hashed: the file name of its batch."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class EpisodeStore:
    """A directory of finished episode batches. ``context`` (e.g. the policy's fingerprint and
    the simulator settings) is added to every key."""

    def __init__(self, root: str | Path, context: Mapping[str, Any] | None = None) -> None:
        self.root = Path(root)
        self.context = dict(context or {})

    def path(self, key: Mapping[str, Any]) -> Path:
        return self.root / f"{key_digest({**self.context, **key})}.npz"

    def __contains__(self, key: Mapping[str, Any]) -> bool:
        return self.path(key).exists()

    def load(self, key: Mapping[str, Any]) -> list[EpisodeRecord]:
        with np.load(self.path(key), allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta["key"] != json.loads(json.dumps({**self.context, **key}, default=str)):
                raise ValueError(f"{self.path(key)} holds another batch (hash collision?)")
            return [_episode(e, f, i) for i, e in enumerate(meta["episodes"])]

    def save(self, key: Mapping[str, Any], episodes: Sequence[EpisodeRecord]) -> Path:
        """Write atomically (a killed write leaves no half file behind)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        rows = []
        for i, ep in enumerate(episodes):
            rows.append(
                {
                    "summary": ep.summary(),
                    "calls": [[getattr(c, k) for k in _CALL_FIELDS] for c in ep.calls],
                }
            )
            for name in ("proprio_trace", "action_trace"):
                if getattr(ep, name) is not None:
                    arrays[f"{name}_{i}"] = np.asarray(getattr(ep, name))
        meta = {"key": {**self.context, **key}, "episodes": rows}
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, meta=np.array(json.dumps(meta, default=str)), **arrays)
        os.replace(tmp, path)  # atomic: a killed write leaves no half batch
        return path


def _episode(row: Mapping[str, Any], arrays, i: int) -> EpisodeRecord:
    d = dict(row["summary"])
    d.pop("calls"), d.pop("mean_exec_len")
    ep = EpisodeRecord(**d)
    ep.calls = [
        CallRecord(plan=_NO_PLAN, **dict(zip(_CALL_FIELDS, c, strict=True))) for c in row["calls"]
    ]
    for name in ("proprio_trace", "action_trace"):
        if f"{name}_{i}" in arrays:
            setattr(ep, name, arrays[f"{name}_{i}"])
    return ep
