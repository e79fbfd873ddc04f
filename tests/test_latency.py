"""The interleaved latency probe and the re-pricing of episodes with its latency."""

import numpy as np
import pytest

from ptrim import latency, metrics
from ptrim.episode import CallRecord
from tests.fakes import record


class Clock:
    """A fake ``perf_counter`` whose machine slows down as calls go on (load drifting)."""

    def __init__(self, drift: float) -> None:
        self.now, self.calls, self.drift = 0.0, 0, drift

    def __call__(self) -> float:
        return self.now

    def spend(self, cost: float) -> None:
        self.calls += 1
        self.now += cost * (1 + self.drift * self.calls)


class TimedPolicy:
    """Plans cost ``cost`` seconds of the fake clock; records what it was asked."""

    device = "cpu"

    def __init__(self, clock: Clock, cost: float, log: list, name: str) -> None:
        self.clock, self.cost, self.log, self.name = clock, cost, log, name

    def plan(self, obs, *, sample, generator):
        assert sample is False and len(generator) == 1
        assert obs["proprio"].shape[0] == 1  # batch 1
        self.log.append((self.name, int(obs["proprio"][0, 0])))
        self.clock.spend(self.cost)


def observation(k: int) -> dict:
    return {
        "images": {"agentview": np.zeros((8, 8, 3), np.uint8)},
        "proprio": np.full(3, float(k)),
        "instruction": "pick",
    }


@pytest.fixture
def clock(monkeypatch):
    c = Clock(drift=0.01)
    monkeypatch.setattr(latency.time, "perf_counter", c)
    return c


def test_probe_times_every_policy_on_every_observation_in_rotating_order(clock):
    log: list = []
    policies = {n: TimedPolicy(clock, 0.03, log, n) for n in ("a", "b", "c")}
    times = latency.probe(policies, [observation(k) for k in range(4)], rounds=3)
    assert {n: t.shape for n, t in times.items()} == {n: (12,) for n in "abc"}
    warm, timed = log[:3], log[3:]
    assert warm == [("a", 0), ("b", 0), ("c", 0)]  # one untimed call each
    # round r starts with the r-th policy; each observation is planned by all three in turn
    firsts = [timed[i][0] for i in range(0, len(timed), 3)]
    assert firsts == ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    assert [o for _, o in timed[:12:3]] == [0, 1, 2, 3]


def test_interleaving_cancels_drift_that_timing_one_after_another_reports(clock):
    """Two copies of one architecture on a machine slowing down: timed one policy after the
    other the second looks ~50 % slower; timed in turn they come out within 1 %."""
    obs = [observation(k) for k in range(10)]
    log: list = []
    a, b = (TimedPolicy(clock, 0.03, log, n) for n in "ab")
    first = latency.probe({"a": a}, obs, rounds=5)["a"]
    second = latency.probe({"b": b}, obs, rounds=5)["b"]
    assert np.median(second) / np.median(first) > 1.4
    turns = latency.probe({"a": a, "b": b}, obs, rounds=5)
    assert np.median(turns["b"]) / np.median(turns["a"]) == pytest.approx(1.0, abs=0.01)


def test_probe_tells_a_slower_policy_from_a_faster_one(clock):
    log: list = []
    obs = [observation(k) for k in range(5)]
    times = latency.probe(
        {"fast": TimedPolicy(clock, 0.02, log, "f"), "slow": TimedPolicy(clock, 0.04, log, "s")},
        obs,
        rounds=4,
    )
    assert np.median(times["slow"]) / np.median(times["fast"]) == pytest.approx(2.0, rel=0.05)


def test_probe_refuses_an_empty_probe():
    with pytest.raises(ValueError, match="at least one round"):
        latency.probe({}, [observation(0)], rounds=1)
    with pytest.raises(ValueError, match="at least one round"):
        latency.probe({"a": object()}, [observation(0)], rounds=0)


def test_estimate_is_the_median_in_ms_with_an_interval_around_it():
    s = np.array([0.010, 0.011, 0.012, 0.013, 0.100])
    est = latency.estimate(s, seed=1)
    assert est["value"] == pytest.approx(12.0)
    assert est["n"] == 5
    assert 10.0 <= est["lo"] <= est["value"] <= est["hi"] <= 100.0
    assert latency.estimate(s, seed=1) == est  # seeded
    with pytest.raises(ValueError, match="no calls"):
        latency.estimate(np.array([]))


def calls(n: int) -> list[CallRecord]:
    return [
        CallRecord(step=5 * i, plan=np.zeros((10, 7)), executed=5, latency_s=0.5, batch_size=4)
        for i in range(n)
    ]


def test_with_latency_prices_every_call_and_leaves_the_rest():
    eps = [record("t", 0, True, 40, calls=calls(8)), record("t", 1, False, 50, calls=calls(10))]
    eps[0].policy_time_s = 123.0
    out = latency.with_latency(eps, 0.03)
    assert [e.policy_time_s for e in out] == pytest.approx([8 * 0.03, 10 * 0.03])
    assert all(c.latency_s == 0.03 and c.batch_size == 1 for e in out for c in e.calls)
    assert [(e.steps, e.success, e.n_calls) for e in out] == [(40, True, 8), (100, False, 10)]
    assert eps[0].policy_time_s == 123.0 and eps[0].calls[0].latency_s == 0.5  # not mutated
    with pytest.raises(ValueError, match="positive"):
        latency.with_latency(eps, 0.0)


def test_repriced_episodes_give_e2e_time_from_calls_and_steps():
    """e2e_time = mean over successes of calls x latency + steps / control_hz (20 Hz)."""
    base = [record("t", i, True, 40, calls=calls(8)) for i in range(3)]
    trimmed = [record("t", i, True, 30, calls=calls(3)) for i in range(3)]
    seconds = {"base": np.array([0.05, 0.05]), "pt": np.array([0.05, 0.07, 0.06])}
    priced = latency.reprice({"base": base, "pt": trimmed}, seconds)
    assert metrics.e2e_time(priced["base"]) == pytest.approx(8 * 0.05 + 40 / 20)
    assert metrics.e2e_time(priced["pt"]) == pytest.approx(3 * 0.06 + 30 / 20)
    assert metrics.latency_ms(priced["pt"]) == pytest.approx(60.0)


def test_annotate_puts_the_probe_in_latency_ms_and_keeps_the_rollouts_beside_it():
    result = {"base": {"latency_ms": {"value": 28.0}}, "pt": {"latency_ms": {"value": 49.0}}}
    seconds = {"base": np.array([0.030, 0.031]), "pt": np.array([0.029, 0.030])}
    out = latency.annotate(result, seconds, {"base": 28.0, "pt": 49.0})
    assert out["pt"]["latency_ms"]["value"] == pytest.approx(29.5)
    assert out["pt"]["latency_ms"]["source"] == "probe"
    assert out["pt"]["latency_ms_rollout"] == {"value": 49.0}


def test_paired_report_prices_episodes_with_the_probe_or_keeps_the_rollouts(monkeypatch):
    from ptrim import config

    by_variant = {
        "base": [record("t", i, True, 40, calls=calls(8)) for i in range(3)],
        "pt": [record("t", i, True, 30, calls=calls(3)) for i in range(3)],
    }
    probed = {"base": np.array([0.05, 0.05]), "pt": np.array([0.06, 0.06])}
    monkeypatch.setattr(latency, "probe_variants", lambda variants, cfg, suite: probed)
    cfg = config.load("default")
    out = latency.paired_report(by_variant, [], cfg, "libero_object")
    assert out["pt"]["latency_ms"]["value"] == pytest.approx(60.0)
    assert out["pt"]["latency_ms_rollout"]["value"] == pytest.approx(500.0 / 4)  # 0.5 s / batch 4
    assert out["pt"]["e2e_time"]["value"] == pytest.approx(3 * 0.06 + 30 / 20)
    off = latency.paired_report(
        by_variant, [], config.load("default", ["evaluate.latency_rounds=0"]), "libero_object"
    )
    assert off["pt"]["latency_ms"]["value"] == pytest.approx(500.0 / 4)
    assert "latency_ms_rollout" not in off["pt"]
