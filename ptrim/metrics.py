"""Evaluation metrics with cluster-bootstrap confidence intervals.

One definition of every number the project reports, computed from :class:`EpisodeRecord` lists.

Single-policy metrics (:func:`summarize`)
-----------------------------------------
==================  ==============================================================================
``success_rate``    fraction of episodes that succeeded (SR)
``steps``           mean ``success_step`` over successful episodes (the paper's S_total)
``steps_all``       mean over all episodes, failures counted at ``max_steps``
``calls``           policy forward passes per episode, mean over successful episodes
``calls_all``       the same over all episodes
``exec_len``        actions executed per forward pass (h): total executed / total calls over the
                    successful episodes (over all episodes if none succeeded)
``utilization``     ``exec_len / plan_horizon`` (executed / planned actions, same episodes)
``latency_ms``      median wall time of one forward pass at batch size 1; if no batch-1 call was
                    measured, median of ``latency_s / batch_size`` (``meta["latency_batched"]``)
``e2e_time``        per episode ``policy_time_s + steps / control_hz``, mean over successes
``step_cv``         std/mean (population std) of ``success_step`` over repeated successful
                    rollouts from one initial state, averaged over states with >= 2 successes
==================  ==============================================================================

Paired comparisons (:func:`compare`), on the initial states both policies were run from
----------------------------------------------------------------------------------------
``call_speedup`` = calls(base) / calls(method); ``spd_paper`` = (S_b / h_b) / (S_m / h_m) with S =
``steps`` and h = ``exec_len``; ``spd_nominal`` the same with the *requested* h (the records'
``exec_len`` field); ``e2e_speedup`` = e2e_time(base) / e2e_time(method); ``sr_diff`` = SR_m - SR_b
(a fraction); ``steps_diff`` = S_m - S_b; ``steps_ratio`` = S_m / S_b.

Note: when each successful episode's executed actions sum to its ``success_step`` (what a rollout
records), S / h with the measured h is exactly the mean number of calls, so ``spd_paper`` equals
``call_speedup``; ``spd_nominal`` is what one gets plugging the requested h into the formula.

Intervals
---------
Every metric comes with a percentile interval from a cluster bootstrap over initial states
``(suite, task, init_index)``: resample the states with replacement, take all episodes of each
drawn state (a state drawn twice counts as two clusters), recompute the metric. Comparisons draw the
*same* states for both policies. Resamples where a metric is undefined (e.g. no successes) are
skipped (``meta["n_boot_valid"]`` then says how many were used); a metric undefined on the full
data is NaN with interval (NaN, NaN). ``numpy.random.default_rng(seed)``: same inputs and seed give
identical numbers, and all metrics of one call share the same resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

import numpy as np

from ptrim.episode import EpisodeRecord

Key = tuple[str, str, int]
Episodes = Sequence[EpisodeRecord]  # a list of records or an EpisodeTable


# --------------------------------------------------------------------------------------------
# Estimate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval.

    ``n`` is the number of episodes the point estimate was computed from (successful episodes for
    success-only metrics; for comparisons, episodes of both policies on the shared states).
    ``meta`` carries flags such as ``latency_batched``, ``n_boot_valid`` or ``n_keys``.
    """

    value: float
    lo: float
    hi: float
    n: int
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n, **self.meta}

    def scaled(self, k: float) -> Estimate:
        """The same estimate multiplied by ``k`` (e.g. 100 for percent)."""
        return Estimate(self.value * k, self.lo * k, self.hi * k, self.n, dict(self.meta))

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        return f"{self.value:{spec}} [{self.lo:{spec}}, {self.hi:{spec}}]"

    def __str__(self) -> str:
        """Compact text, e.g. ``98.0 [95.1, 100.0]`` (about three significant digits)."""
        x = abs(self.value)
        digits = 3 if (not math.isfinite(x) or x == 0) else 2 - math.floor(math.log10(x))
        return format(self, f".{min(6, max(0, digits))}f")


def to_json(estimates: Mapping[str, Estimate]) -> dict[str, dict[str, Any]]:
    """``{name: {"value", "lo", "hi", "n", ...meta}}`` with plain Python numbers; NaN -> None."""

    def plain(v: Any) -> Any:
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if isinstance(v, int | np.integer):
            return int(v)
        if isinstance(v, float | np.floating):
            return float(v) if math.isfinite(v) else None
        return v

    return {name: {k: plain(v) for k, v in e.as_dict().items()} for name, e in estimates.items()}


# --------------------------------------------------------------------------------------------
# Columnar view of episodes
# --------------------------------------------------------------------------------------------


def episode_key(ep: EpisodeRecord) -> Key:
    """The initial state an episode started from: ``(suite, task, init_index)``."""
    return (ep.suite, ep.task, int(ep.init_index))


def _object_array(items: list[Any]) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    for i, x in enumerate(items):
        arr[i] = x
    return arr


class EpisodeTable(Sequence):
    """Episodes as numpy columns (a read-only sequence of the records, too).

    All metric functions accept either a list of records or a table; the bootstrap builds one
    table and resamples it with :meth:`take`, so metrics never loop over episodes in Python.
    ``cluster`` labels the initial state of each row: the key's index for a fresh table, the draw
    index inside a bootstrap resample (so a state drawn twice forms two clusters).
    """

    _COLUMNS = (
        "records", "cluster", "success", "success_step", "steps", "max_steps", "n_calls",
        "executed", "plan_horizon", "exec_len_req", "control_hz", "policy_time_s", "call_start",
    )  # fmt: skip

    def __init__(self, episodes: Iterable[EpisodeRecord]):
        eps = list(episodes)
        self.records = _object_array(eps)
        index: dict[Key, int] = {}
        self.cluster = np.array(
            [index.setdefault(episode_key(e), len(index)) for e in eps], dtype=np.intp
        )
        self.success = np.array([bool(e.success) for e in eps], dtype=bool)
        self.success_step = np.array(
            [
                float(e.success_step)
                if e.success_step is not None
                else (float(e.steps) if e.success else np.nan)
                for e in eps
            ],
            dtype=float,
        )
        self.steps = np.array([e.steps for e in eps], dtype=float)
        self.max_steps = np.array([e.max_steps for e in eps], dtype=float)
        self.n_calls = np.array([len(e.calls) for e in eps], dtype=np.intp)
        self.executed = np.array([e.executed_actions for e in eps], dtype=float)
        self.plan_horizon = np.array([e.plan_horizon for e in eps], dtype=float)
        self.exec_len_req = np.array([e.exec_len for e in eps], dtype=float)
        self.control_hz = np.array([e.control_hz for e in eps], dtype=float)
        self.policy_time_s = np.array([e.policy_time_s for e in eps], dtype=float)
        self.call_start = (np.cumsum(self.n_calls) - self.n_calls).astype(np.intp)
        self._all_latency_s = np.array([c.latency_s for e in eps for c in e.calls], dtype=float)
        self._all_batch_size = np.array([c.batch_size for e in eps for c in e.calls], dtype=float)

    # Sequence protocol: iterate / index the records themselves.
    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        return list(self.records[i]) if isinstance(i, slice) else self.records[i]

    @property
    def keys(self) -> list[Key]:
        return [episode_key(e) for e in self.records]

    def take(self, idx: np.ndarray, cluster: np.ndarray | None = None) -> EpisodeTable:
        """Rows ``idx`` (repeats allowed), optionally relabelling their clusters."""
        new = object.__new__(EpisodeTable)
        for name in self._COLUMNS:
            setattr(new, name, getattr(self, name)[idx])
        if cluster is not None:
            new.cluster = np.asarray(cluster, dtype=np.intp)
        new._all_latency_s = self._all_latency_s
        new._all_batch_size = self._all_batch_size
        return new

    @cached_property
    def _call_index(self) -> np.ndarray:
        counts = self.n_calls
        ends = np.cumsum(counts)
        return np.repeat(self.call_start - (ends - counts), counts) + np.arange(counts.sum())

    @property
    def call_latency_s(self) -> np.ndarray:
        """Latency of every call of these rows (flattened)."""
        return self._all_latency_s[self._call_index]

    @property
    def call_batch_size(self) -> np.ndarray:
        return self._all_batch_size[self._call_index]

    @property
    def call_row(self) -> np.ndarray:
        """Row (episode) index of every call."""
        return np.repeat(np.arange(len(self)), self.n_calls)


def _as_table(episodes: Episodes | Iterable[EpisodeRecord]) -> EpisodeTable:
    return episodes if isinstance(episodes, EpisodeTable) else EpisodeTable(episodes)


def _div(a: float, b: float) -> float:
    return a / b if b != 0 else math.nan


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else math.nan


# --------------------------------------------------------------------------------------------
# Point estimates (each takes a list of episodes or an EpisodeTable)
# --------------------------------------------------------------------------------------------


def success_rate(episodes: Episodes) -> float:
    """SR: fraction of episodes that succeeded."""
    return _mean(_as_table(episodes).success.astype(float))


def mean_steps(episodes: Episodes) -> float:
    """S: mean ``success_step`` over successful episodes (NaN if none succeeded)."""
    t = _as_table(episodes)
    return _mean(t.success_step[t.success])


def mean_steps_all(episodes: Episodes) -> float:
    """Mean steps over all episodes, a failure counted at its ``max_steps``."""
    t = _as_table(episodes)
    return _mean(np.where(t.success, t.success_step, t.max_steps))


def mean_calls(episodes: Episodes) -> float:
    """Policy forward passes per episode, mean over successful episodes."""
    t = _as_table(episodes)
    return _mean(t.n_calls[t.success].astype(float))


def mean_calls_all(episodes: Episodes) -> float:
    """Policy forward passes per episode, mean over all episodes."""
    return _mean(_as_table(episodes).n_calls.astype(float))


def _exec_rows(t: EpisodeTable) -> np.ndarray:
    """Rows exec_len/utilization use: the successes, or every row if none succeeded."""
    return t.success if t.success.any() else np.ones(len(t), dtype=bool)


def exec_len(episodes: Episodes) -> float:
    """h: total executed actions / total forward passes, over successes (all if none)."""
    t = _as_table(episodes)
    m = _exec_rows(t)
    return _div(float(t.executed[m].sum()), float(t.n_calls[m].sum()))


def utilization(episodes: Episodes) -> float:
    """``exec_len / plan_horizon``: executed / planned actions over the same episodes."""
    t = _as_table(episodes)
    m = _exec_rows(t)
    return _div(float(t.executed[m].sum()), float((t.n_calls[m] * t.plan_horizon[m]).sum()))


def latency_is_batched(episodes: Episodes) -> bool:
    """True if no batch-size-1 forward pass was measured (latency falls back to latency/batch)."""
    t = _as_table(episodes)
    return not bool(np.any((t.call_batch_size == 1) & (t.call_latency_s > 0)))


def _latency_calls(t: EpisodeTable, batched: bool) -> tuple[np.ndarray, np.ndarray]:
    """(per-call latency in s, mask of calls used). Non-positive latency = not measured."""
    lat, bs = t.call_latency_s, t.call_batch_size
    used = lat > 0
    if batched:
        return lat / bs, used
    return lat, used & (bs == 1)


def latency_ms(episodes: Episodes, *, batched: bool | None = None) -> float:
    """Median wall time (ms) of one forward pass at batch size 1.

    ``batched=None`` picks automatically: batch-1 calls if any were measured, else the median of
    ``latency_s / batch_size`` over all calls (see :func:`latency_is_batched`). Calls with
    ``latency_s <= 0`` (e.g. placeholders from ``EpisodeRecord.from_summary``) are ignored.
    """
    t = _as_table(episodes)
    if batched is None:
        batched = latency_is_batched(t)
    lat, used = _latency_calls(t, batched)
    return float(np.median(lat[used])) * 1e3 if used.any() else math.nan


def e2e_time(episodes: Episodes) -> float:
    """Mean over successes of ``policy_time_s + steps / control_hz`` (seconds)."""
    t = _as_table(episodes)
    m = t.success
    return _mean(t.policy_time_s[m] + t.steps[m] / t.control_hz[m])


def _step_cv_parts(t: EpisodeTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cluster with >= 2 successes: (cv, success count); plus row mask of those episodes."""
    m = t.success
    cl, x = t.cluster[m], t.success_step[m]
    if cl.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.intp), np.zeros(len(t), dtype=bool)
    uniq, inv = np.unique(cl, return_inverse=True)
    cnt = np.bincount(inv)
    mean = np.bincount(inv, x) / cnt
    dev = x - mean[inv]
    std = np.sqrt(np.bincount(inv, dev * dev) / cnt)
    ok = cnt >= 2
    rows = m & np.isin(t.cluster, uniq[ok])
    return std[ok] / mean[ok], cnt[ok], rows


def step_cv(episodes: Episodes) -> float:
    """Mean over initial states with >= 2 successes of std/mean (population std) of success_step."""
    cv, _, _ = _step_cv_parts(_as_table(episodes))
    return _mean(cv)


# Paired point estimates on tables already restricted to the shared initial states.


def _spd(t: EpisodeTable, h: float) -> float:
    return _div(mean_steps(t), h)


def _mean_exec_len_req(t: EpisodeTable) -> float:
    return _mean(t.exec_len_req[_exec_rows(t)])


_PAIRED: dict[str, Callable[[EpisodeTable, EpisodeTable], float]] = {
    "call_speedup": lambda b, m: _div(mean_calls(b), mean_calls(m)),
    "spd_paper": lambda b, m: _div(_spd(b, exec_len(b)), _spd(m, exec_len(m))),
    "spd_nominal": lambda b, m: _div(
        _spd(b, _mean_exec_len_req(b)), _spd(m, _mean_exec_len_req(m))
    ),
    "e2e_speedup": lambda b, m: _div(e2e_time(b), e2e_time(m)),
    "sr_diff": lambda b, m: success_rate(m) - success_rate(b),
    "steps_diff": lambda b, m: mean_steps(m) - mean_steps(b),
    "steps_ratio": lambda b, m: _div(mean_steps(m), mean_steps(b)),
}


def _unique_keys(t: EpisodeTable) -> list[Key]:
    return list(dict.fromkeys(t.keys))


def _paired(base: Episodes, method: Episodes) -> tuple[EpisodeTable, EpisodeTable, list[Key]]:
    """Both tables restricted to the initial states they share (in base's order)."""
    tb, tm = _as_table(base), _as_table(method)
    in_method = set(tm.keys)
    keys = [k for k in _unique_keys(tb) if k in in_method]
    if not keys:
        raise ValueError(
            "compare: base and method share no initial state (suite, task, init_index); "
            f"base has {len(_unique_keys(tb))}, method has {len(in_method)} states"
        )
    full = np.arange(len(keys))
    tb = tb.take(*_ClusterIndex(tb, keys).gather(full))
    tm = tm.take(*_ClusterIndex(tm, keys).gather(full))
    return tb, tm, keys


def _paired_metric(name: str, doc: str) -> Callable[[Episodes, Episodes], float]:
    def fn(base: Episodes, method: Episodes) -> float:
        tb, tm, _ = _paired(base, method)
        return _PAIRED[name](tb, tm)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc + " Paired: only initial states present in both."
    return fn


call_speedup = _paired_metric("call_speedup", "calls(base) / calls(method).")
spd_paper = _paired_metric("spd_paper", "(S_base / h_base) / (S_method / h_method), h = exec_len.")
spd_nominal = _paired_metric("spd_nominal", "spd_paper with the requested h (record field).")
e2e_speedup = _paired_metric("e2e_speedup", "e2e_time(base) / e2e_time(method).")
sr_diff = _paired_metric("sr_diff", "SR(method) - SR(base), as a fraction.")
steps_diff = _paired_metric("steps_diff", "steps(method) - steps(base).")
steps_ratio = _paired_metric("steps_ratio", "steps(method) / steps(base).")


# --------------------------------------------------------------------------------------------
# Cluster bootstrap
# --------------------------------------------------------------------------------------------


class _ClusterIndex:
    """Rows of a table grouped by initial state, in the order of ``keys`` (CSR layout)."""

    def __init__(self, table: EpisodeTable, keys: list[Key]):
        pos = {k: i for i, k in enumerate(keys)}
        kid = np.array([pos.get(k, -1) for k in table.keys], dtype=np.intp)
        keep = np.flatnonzero(kid >= 0)
        self.order = keep[np.argsort(kid[keep], kind="stable")]
        self.count = np.bincount(kid[keep], minlength=len(keys))
        self.start = (np.cumsum(self.count) - self.count).astype(np.intp)

    def gather(self, draw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, cluster label = position in ``draw``) for the drawn states."""
        counts = self.count[draw]
        ends = np.cumsum(counts)
        pos = np.repeat(self.start[draw] - (ends - counts), counts) + np.arange(counts.sum())
        return self.order[pos], np.repeat(np.arange(len(draw)), counts)


def _resample(
    tables: list[EpisodeTable],
    keys: list[Key],
    fns: Mapping[str, Callable[..., float]],
    n_boot: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """Metric values on ``n_boot`` cluster resamples; the same drawn states for every table."""
    if not keys:
        raise ValueError("bootstrap needs at least one episode")
    index = [_ClusterIndex(t, keys) for t in tables]
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(keys), size=(n_boot, len(keys)))
    out = {name: np.full(n_boot, np.nan) for name in fns}
    with np.errstate(all="ignore"):
        for b in range(n_boot):
            subs = [t.take(*ix.gather(draws[b])) for t, ix in zip(tables, index, strict=True)]
            for name, fn in fns.items():
                out[name][b] = fn(*subs)
    return out


def _estimate(
    point: float, boots: np.ndarray, ci: float, n: int, meta: Mapping[str, Any] | None = None
) -> Estimate:
    meta = dict(meta or {})
    point = float(point)
    if not math.isfinite(point):
        return Estimate(math.nan, math.nan, math.nan, int(n), meta)
    valid = boots[np.isfinite(boots)]
    if valid.size < boots.size:
        meta["n_boot_valid"] = int(valid.size)
    if valid.size == 0:
        return Estimate(point, math.nan, math.nan, int(n), meta)
    alpha = 100 * (1 - ci) / 2
    lo, hi = np.percentile(valid, [alpha, 100 - alpha])
    return Estimate(point, float(lo), float(hi), int(n), meta)


def _check(n_boot: int, ci: float) -> None:
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0, got {n_boot}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")


def bootstrap(
    episodes: Episodes,
    fn: Callable[[EpisodeTable], float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    n: int | None = None,
) -> Estimate:
    """Cluster-bootstrap any metric ``fn(episodes) -> float``.

    ``fn`` receives an :class:`EpisodeTable` (a sequence of the records, so functions written
    for lists work too). ``n`` defaults to the number of episodes.
    """
    _check(n_boot, ci)
    t = _as_table(episodes)
    boots = _resample([t], _unique_keys(t), {"m": fn}, n_boot, seed)["m"]
    with np.errstate(all="ignore"):
        point = fn(t)
    return _estimate(point, boots, ci, len(t) if n is None else n)


def bootstrap_paired(
    base: Episodes,
    method: Episodes,
    fn: Callable[[EpisodeTable, EpisodeTable], float],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> Estimate:
    """Cluster-bootstrap ``fn(base, method)`` on the shared initial states, same draws for both."""
    _check(n_boot, ci)
    tb, tm, keys = _paired(base, method)
    boots = _resample([tb, tm], keys, {"m": fn}, n_boot, seed)["m"]
    with np.errstate(all="ignore"):
        point = fn(tb, tm)
    return _estimate(point, boots, ci, len(tb) + len(tm), {"n_keys": len(keys)})


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


def summarize(
    episodes: Episodes, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> dict[str, Estimate]:
    """All single-policy metrics with cluster-bootstrap intervals (one set of resamples)."""
    _check(n_boot, ci)
    t = _as_table(episodes)
    batched = latency_is_batched(t)
    fns: dict[str, Callable[[EpisodeTable], float]] = {
        "success_rate": success_rate,
        "steps": mean_steps,
        "steps_all": mean_steps_all,
        "calls": mean_calls,
        "calls_all": mean_calls_all,
        "exec_len": exec_len,
        "utilization": utilization,
        "latency_ms": partial(latency_ms, batched=batched),
        "e2e_time": e2e_time,
        "step_cv": step_cv,
    }
    boots = _resample([t], _unique_keys(t), fns, n_boot, seed)

    n_all, n_succ = len(t), int(t.success.sum())
    _, used = _latency_calls(t, batched)
    n_lat = int(np.unique(t.call_row[used]).size)
    _, cv_counts, _ = _step_cv_parts(t)
    ns = {
        "success_rate": n_all,
        "steps_all": n_all,
        "calls_all": n_all,
        "exec_len": n_succ or n_all,
        "utilization": n_succ or n_all,
        "latency_ms": n_lat,
        "step_cv": int(cv_counts.sum()),
    }
    out = {}
    with np.errstate(all="ignore"):
        for name, fn in fns.items():
            meta = {"latency_batched": batched} if name == "latency_ms" else None
            out[name] = _estimate(fn(t), boots[name], ci, ns.get(name, n_succ), meta)
    return out


def compare(
    base: Episodes, method: Episodes, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95
) -> dict[str, Estimate]:
    """Paired comparison of two policies on the initial states both were run from.

    Keys: ``call_speedup``, ``spd_paper``, ``spd_nominal``, ``e2e_speedup``, ``sr_diff``,
    ``steps_diff``, ``steps_ratio``; ``n`` counts episodes of both policies on the shared states
    and ``meta["n_keys"]`` the shared states. Raises ValueError if they share none.
    """
    _check(n_boot, ci)
    tb, tm, keys = _paired(base, method)
    boots = _resample([tb, tm], keys, _PAIRED, n_boot, seed)
    out = {}
    with np.errstate(all="ignore"):
        for name, fn in _PAIRED.items():
            point = fn(tb, tm)
            out[name] = _estimate(point, boots[name], ci, len(tb) + len(tm), {"n_keys": len(keys)})
    return out


def group_by(episodes: Iterable[EpisodeRecord], *keys: str) -> dict[tuple, list[EpisodeRecord]]:
    """Split episodes by record attributes, e.g. ``group_by(eps, "suite", "exec_len")``.

    Returns ``{(value, ...): [episodes]}`` sorted by key (first-seen order if unsortable).
    ``group_by(eps, ("a", "b"))`` is accepted as ``group_by(eps, "a", "b")``.
    """
    if len(keys) == 1 and isinstance(keys[0], tuple | list):
        keys = tuple(keys[0])
    if not keys:
        raise ValueError("group_by needs at least one attribute name")
    groups: dict[tuple, list[EpisodeRecord]] = {}
    for ep in episodes:
        groups.setdefault(tuple(getattr(ep, k) for k in keys), []).append(ep)
    try:
        return dict(sorted(groups.items(), key=lambda kv: kv[0]))
    except TypeError:
        return groups


__all__ = [
    "Estimate",
    "EpisodeTable",
    "bootstrap",
    "bootstrap_paired",
    "call_speedup",
    "compare",
    "e2e_speedup",
    "e2e_time",
    "episode_key",
    "exec_len",
    "group_by",
    "latency_is_batched",
    "latency_ms",
    "mean_calls",
    "mean_calls_all",
    "mean_steps",
    "mean_steps_all",
    "spd_nominal",
    "spd_paper",
    "sr_diff",
    "step_cv",
    "steps_diff",
    "steps_ratio",
    "success_rate",
    "summarize",
    "to_json",
    "utilization",
]
