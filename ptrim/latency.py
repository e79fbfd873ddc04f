"""Per-call latency of several policies, timed in turn on the same observations.

Latency measured inside rollouts drifts with what else the machine does while each policy
runs: in pi05's paired evaluation on LIBERO-Object (2026-12-08) the one architecture measured
28, 37 and 49 ms per batch-1 call for base, stage 1 and PolicyTrim, evaluated one after the
other on a shared 2-core VM (the simulator slowed by the same amount). :func:`probe` times
the policies call by call, alternating between them, on the same observations, so each sees
the same conditions; :func:`with_latency` gives a policy's episodes that latency, so the
episode wall time (``e2e_time``: calls × latency + steps at the control rate) and its paired
speed-up compare architectures, not moments. The probe plans deployed (``sample=False``),
in full precision, at batch 1, with the weights warm in cache; a rollout re-plans after the
simulator has run, which costs the same for every policy of one architecture.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ptrim.envs.base import Observation
from ptrim.episode import EpisodeRecord
from ptrim.rollout import stack_observations


def first_observations(cfg, suite: str, *, seed: int = 0) -> list[Observation]:
    """One observation per task of ``suite`` (the profile's tasks), at initial state 0."""
    from ptrim.evaluate import make_env

    out = []
    for task in cfg.bench(suite).task_list(suite):
        env = make_env(cfg, suite, task, seed=seed)
        try:
            env.reset(0)
            out.append(env.observe())
        finally:
            env.close()
    return out


def _sync(policy) -> None:
    import torch

    if str(getattr(policy, "device", "cpu")).startswith("cuda"):
        torch.cuda.synchronize()


def probe(
    policies: Mapping[str, object],
    observations: Sequence[Observation],
    *,
    rounds: int,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """``{name: seconds of each call}``: ``rounds`` rounds, each planning every observation
    once with every policy (batch 1, deployed), the policies' order rotated from round to
    round. One untimed call per policy first (allocations, lazy initialisation)."""
    import torch

    if rounds < 1 or not observations or not policies:
        raise ValueError("probe needs at least one round, observation and policy")
    names = list(policies)
    batches = [stack_observations([o]) for o in observations]

    def call(name: str, k: int) -> float:
        policy = policies[name]
        gen = [torch.Generator().manual_seed(seed * 1_000_003 + k)]
        t0 = time.perf_counter()
        policy.plan(batches[k], sample=False, generator=gen)
        _sync(policy)
        return time.perf_counter() - t0

    for name in names:
        call(name, 0)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for k in range(len(batches)):
            for name in order:
                times[name].append(call(name, k))
    return {n: np.asarray(t) for n, t in times.items()}


def estimate(seconds: np.ndarray, *, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> dict:
    """Median in milliseconds with a percentile-bootstrap interval over the calls, in the
    shape of :mod:`ptrim.metrics` estimates (``value``, ``lo``, ``hi``, ``n``)."""
    ms = 1000 * np.asarray(seconds, dtype=float)
    if ms.size == 0:
        raise ValueError("no calls timed")
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(ms, size=(n_boot, ms.size)), axis=1)
    a = (1 - ci) / 2
    lo, hi = np.quantile(boots, [a, 1 - a])
    return {"value": float(np.median(ms)), "lo": float(lo), "hi": float(hi), "n": int(ms.size)}


def with_latency(episodes: Sequence[EpisodeRecord], seconds: float) -> list[EpisodeRecord]:
    """Copies of ``episodes`` whose every call took ``seconds`` at batch 1: policy time per
    episode = calls × ``seconds``; steps, success and plans unchanged."""
    if not seconds > 0:
        raise ValueError(f"latency must be positive, got {seconds}")
    out = []
    for e in episodes:
        calls = [dataclasses.replace(c, latency_s=seconds, batch_size=1) for c in e.calls]
        out.append(dataclasses.replace(e, calls=calls, policy_time_s=seconds * len(calls)))
    return out


def probe_variants(variants, cfg, suite: str) -> dict[str, np.ndarray]:
    """:func:`probe` of every :class:`ptrim.evaluate.Variant`'s weights on
    :func:`first_observations`, ``evaluate.latency_rounds`` rounds."""
    from ptrim import models

    policies = {v.name: models.load(v.weights, device=cfg.device).eval() for v in variants}
    observations = first_observations(cfg, suite, seed=cfg.seed)
    return probe(policies, observations, rounds=cfg.evaluate.latency_rounds, seed=cfg.seed)


def reprice(
    by_variant: Mapping[str, Sequence[EpisodeRecord]], seconds: Mapping[str, np.ndarray]
) -> dict[str, list[EpisodeRecord]]:
    """Each variant's episodes :func:`with_latency` its probed median."""
    return {n: with_latency(eps, float(np.median(seconds[n]))) for n, eps in by_variant.items()}


def annotate(result: dict, seconds: Mapping[str, np.ndarray], rollout_ms: Mapping[str, float]):
    """In a paired report (``{variant: {metric: estimate}}``): ``latency_ms`` becomes the
    probe's :func:`estimate` (``source: probe``), and ``latency_ms_rollout`` keeps what the
    rollouts measured, for comparison."""
    for name, s in seconds.items():
        result[name]["latency_ms"] = {**estimate(s), "source": "probe"}
        result[name]["latency_ms_rollout"] = {"value": float(rollout_ms[name])}
    return result


def paired_report(by_variant, variants, cfg, suite: str) -> dict:
    """:func:`ptrim.evaluate.paired_report` with latency from :func:`probe_variants` (episode
    time re-priced, the rollouts' latency kept as ``latency_ms_rollout``); with
    ``evaluate.latency_rounds`` = 0, the rollouts' own timing."""
    from ptrim import evaluate, metrics

    if not cfg.evaluate.latency_rounds:
        return evaluate.paired_report(by_variant, seed=cfg.seed)
    seconds = probe_variants(variants, cfg, suite)
    rollout_ms = {n: metrics.latency_ms(eps) for n, eps in by_variant.items()}
    result = evaluate.paired_report(reprice(by_variant, seconds), seed=cfg.seed)
    return annotate(result, seconds, rollout_ms)
