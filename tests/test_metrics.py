"""Metrics: hand-computed values for every definition, the cluster bootstrap and pairing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ptrim import metrics as M
from ptrim.episode import CallRecord, EpisodeRecord


def make_ep(
    init: int = 0,
    *,
    success_step: int | None = None,
    steps: int | None = None,
    h: int = 5,
    H: int = 10,
    max_steps: int = 300,
    executed: list[int] | None = None,
    latency_s: float | list[float] = 0.05,
    batch_size: int | list[int] = 1,
    policy_time_s: float = 0.0,
    control_hz: float = 20.0,
    task: str = "task",
    suite: str = "suite",
    seed: int = 0,
) -> EpisodeRecord:
    """An episode from ``init``; calls execute ``h`` actions each (the last one fewer) unless
    ``executed`` gives the per-call counts explicitly."""
    if steps is None:
        steps = success_step if success_step is not None else max_steps
    if executed is None:
        executed = [h] * (steps // h) + ([steps % h] if steps % h else [])
    n = len(executed)
    lat = latency_s if isinstance(latency_s, list) else [latency_s] * n
    bs = batch_size if isinstance(batch_size, list) else [batch_size] * n
    calls = [
        CallRecord(
            step=sum(executed[:i]),
            plan=np.zeros((H, 7), dtype=np.float32),
            executed=e,
            latency_s=lat[i],
            batch_size=bs[i],
        )
        for i, e in enumerate(executed)
    ]
    return EpisodeRecord(
        benchmark="libero",
        suite=suite,
        task=task,
        init_index=init,
        seed=seed,
        plan_horizon=H,
        exec_len=h,
        max_steps=max_steps,
        control_hz=control_hz,
        success=success_step is not None,
        success_step=success_step,
        steps=steps,
        calls=calls,
        policy_time_s=policy_time_s,
    )


# ---------------------------------------------------------------- point estimates


def test_exec_len_counts_partial_last_chunk():
    ep = make_ep(success_step=37, h=8, H=10)
    assert [c.executed for c in ep.calls] == [8, 8, 8, 8, 5]
    assert M.mean_calls([ep]) == 5
    assert M.exec_len([ep]) == pytest.approx(7.4)
    assert M.utilization([ep]) == pytest.approx(0.74)


def test_exec_len_is_ratio_of_totals_over_successes_with_fallback():
    a = make_ep(0, success_step=37, h=8)  # 37 actions / 5 calls
    b = make_ep(1, success_step=10, h=8)  # 10 actions / 2 calls (8, 2)
    fail = make_ep(2, steps=300, h=8)  # 300 / 38, excluded while there are successes
    # ratio of totals (47 / 7), not the mean of per-episode ratios ((7.4 + 5) / 2 = 6.2)
    assert M.exec_len([a, b, fail]) == pytest.approx(47 / 7)
    assert M.utilization([a, b, fail]) == pytest.approx(47 / 70)
    assert M.exec_len([fail]) == pytest.approx(300 / 38)


def test_success_rate_steps_calls():
    eps = [
        make_ep(0, success_step=40, h=5),  # 8 calls
        make_ep(1, success_step=60, h=5),  # 12 calls
        make_ep(2, steps=250, max_steps=300, h=5),  # failed early: 50 calls, counted at 300 steps
    ]
    assert M.success_rate(eps) == pytest.approx(2 / 3)
    assert M.mean_steps(eps) == pytest.approx(50.0)
    assert M.mean_steps_all(eps) == pytest.approx((40 + 60 + 300) / 3)
    assert M.mean_calls(eps) == pytest.approx(10.0)
    assert M.mean_calls_all(eps) == pytest.approx((8 + 12 + 50) / 3)


def test_no_successes_gives_nan_for_success_metrics():
    eps = [make_ep(i, steps=300) for i in range(3)]
    assert M.success_rate(eps) == 0.0
    assert math.isnan(M.mean_steps(eps))
    assert math.isnan(M.mean_calls(eps))
    assert math.isnan(M.e2e_time(eps))
    assert M.mean_steps_all(eps) == 300


def test_step_cv_per_initial_state():
    eps = [
        make_ep(0, success_step=40),
        make_ep(0, success_step=60),  # state 0: mean 50, population std 10 -> cv 0.2
        make_ep(1, success_step=30),
        make_ep(1, success_step=30),
        make_ep(1, success_step=30),
        make_ep(1, steps=300),  # state 1: cv 0 (the failure is ignored)
        make_ep(2, success_step=100),  # state 2: a single success, excluded
    ]
    assert M.step_cv(eps) == pytest.approx(0.1)
    # the same init_index in another task is another initial state
    other = [make_ep(0, success_step=40, task="a"), make_ep(0, success_step=60, task="b")]
    assert math.isnan(M.step_cv(other))
    assert M.summarize(eps, n_boot=0)["step_cv"].n == 5


def test_latency_median_at_batch_one():
    ep = make_ep(success_step=20, h=5, latency_s=[0.01, 0.03, 0.02, 0.2], batch_size=[1, 1, 1, 4])
    # batch-4 call ignored; including it (0.2 / 4 = 50 ms) would give 25 ms
    assert M.latency_ms([ep]) == pytest.approx(20.0)
    assert not M.latency_is_batched([ep])
    est = M.summarize([ep], n_boot=0)["latency_ms"]
    assert est.value == pytest.approx(20.0) and est.meta["latency_batched"] is False


def test_latency_falls_back_to_per_row_time_when_batched():
    ep = make_ep(success_step=15, h=5, latency_s=[0.08, 0.12, 0.2], batch_size=4)
    assert M.latency_is_batched([ep])
    assert M.latency_ms([ep]) == pytest.approx(30.0)  # median of 20, 30, 50 ms
    est = M.summarize([ep], n_boot=50)["latency_ms"]
    assert est.value == pytest.approx(30.0)
    assert est.meta["latency_batched"] is True
    assert M.to_json({"latency_ms": est})["latency_ms"]["latency_batched"] is True


def test_latency_ignores_unmeasured_placeholder_calls():
    ep = make_ep(success_step=20, h=5)
    restored = EpisodeRecord.from_summary(ep.summary())  # calls come back with latency 0.0
    assert M.mean_calls([restored]) == 4 and M.exec_len([restored]) == 5
    assert math.isnan(M.latency_ms([restored]))


def test_e2e_time():
    eps = [
        make_ep(0, success_step=37, policy_time_s=0.5, control_hz=20.0),  # 0.5 + 1.85
        make_ep(1, success_step=60, policy_time_s=1.0, control_hz=20.0),  # 1.0 + 3.0
        make_ep(2, steps=300, policy_time_s=9.0),  # failure, excluded
    ]
    assert M.e2e_time(eps[:1]) == pytest.approx(2.35)
    assert M.e2e_time(eps) == pytest.approx((2.35 + 4.0) / 2)


# ---------------------------------------------------------------- bootstrap


def varied_episodes(n_states: int = 30, reps: int = 3, seed: int = 0) -> list[EpisodeRecord]:
    rng = np.random.default_rng(seed)
    eps = []
    for i in range(n_states):
        for r in range(reps):
            lat = list(rng.uniform(0.04, 0.06, size=40))  # one per call
            if rng.random() < 0.8:
                s = int(rng.integers(40, 160))
                eps.append(
                    make_ep(i, success_step=s, h=8, seed=r, policy_time_s=0.01 * s, latency_s=lat)
                )
            else:
                eps.append(make_ep(i, steps=300, h=8, seed=r, latency_s=lat))
    return eps


def test_bootstrap_is_deterministic_for_a_seed():
    eps = varied_episodes()
    a = M.to_json(M.summarize(eps, n_boot=200, seed=3))
    b = M.to_json(M.summarize(eps, n_boot=200, seed=3))
    c = M.to_json(M.summarize(eps, n_boot=200, seed=4))
    assert a == b
    assert a["success_rate"]["value"] == c["success_rate"]["value"]
    assert (a["steps"]["lo"], a["steps"]["hi"]) != (c["steps"]["lo"], c["steps"]["hi"])


def test_bootstrap_interval_contains_point_estimate():
    est = M.summarize(varied_episodes(), n_boot=300, seed=0)
    for name, e in est.items():
        assert e.lo <= e.value <= e.hi, name
        assert e.lo < e.hi, name  # the data vary, so every interval has width


def test_bootstrap_of_any_metric_matches_summarize():
    eps = varied_episodes()
    summary = M.summarize(eps, n_boot=200, seed=7)
    assert M.bootstrap(eps, M.success_rate, n_boot=200, seed=7) == summary["success_rate"]
    # a metric written for a plain list of records works too
    est = M.bootstrap(eps, lambda e: sum(x.steps for x in e) / len(e), n_boot=50, seed=0)
    assert est.value == pytest.approx(np.mean([e.steps for e in eps]))
    assert est.lo <= est.value <= est.hi


def test_interval_width_zero_when_all_states_identical():
    eps = [make_ep(i, success_step=37, h=8, policy_time_s=0.2) for i in range(10) for _ in range(2)]
    est = M.summarize(eps, n_boot=100)
    for name in ["success_rate", "steps", "calls", "exec_len", "utilization", "e2e_time"]:
        e = est[name]
        assert e.lo == pytest.approx(e.value) and e.hi == pytest.approx(e.value), name
    assert est["exec_len"].value == pytest.approx(7.4)
    assert est["step_cv"].value == 0.0 and est["step_cv"].hi == 0.0
    assert (est["success_rate"].value, est["success_rate"].n) == (1.0, 20)


def test_success_rate_interval_for_known_rate():
    eps = [make_ep(i, success_step=50) if i < 80 else make_ep(i, steps=300) for i in range(100)]
    e = M.bootstrap(eps, M.success_rate, n_boot=1000, seed=0)
    assert e.value == pytest.approx(0.8)
    # binomial: 0.8 +- 1.96 * sqrt(0.8 * 0.2 / 100) = [0.72, 0.88]
    assert 0.70 <= e.lo <= 0.75 and 0.85 <= e.hi <= 0.90


def test_bootstrap_resamples_initial_states_not_episodes():
    # 20 states x 5 rollouts, each state all-success or all-failure: SR 0.5 from only 20
    # independent units, interval ~ +-1.96 * sqrt(0.25 / 20) = +-0.22 (vs +-0.10 per episode)
    eps = [
        make_ep(i, success_step=50, seed=r) if i % 2 else make_ep(i, steps=300, seed=r)
        for i in range(20)
        for r in range(5)
    ]
    e = M.bootstrap(eps, M.success_rate, n_boot=500, seed=0)
    assert e.value == 0.5
    assert e.hi - e.lo > 0.3


def test_undefined_metrics_are_nan_and_skipped_resamples_reported():
    fails = [make_ep(i, steps=300) for i in range(5)]
    est = M.summarize(fails, n_boot=50)
    assert math.isnan(est["steps"].value) and math.isnan(est["steps"].lo)
    assert est["steps"].n == 0
    assert est["success_rate"].as_dict() == {"value": 0.0, "lo": 0.0, "hi": 0.0, "n": 5}
    out = M.to_json(est)
    assert out["steps"]["value"] is None
    json.dumps(out, allow_nan=False)  # strict JSON

    one = [make_ep(0, success_step=40)] + [make_ep(i, steps=300) for i in range(1, 10)]
    steps = M.summarize(one, n_boot=100)["steps"]
    assert (steps.value, steps.lo, steps.hi, steps.n) == (40.0, 40.0, 40.0, 1)
    assert 0 < steps.meta["n_boot_valid"] < 100  # resamples without state 0 were skipped


# ---------------------------------------------------------------- comparisons


def test_compare_paper_spd_object_example():
    # pi0.5 LIBERO-Object: base S=125 at h=5, PolicyTrim S=64.3 at h=15 -> Spd 5.83.
    # The method's calls are set to execute exactly 15 actions so its measured h is 15.
    base = [make_ep(i, success_step=125, h=5, H=50) for i in range(10)]
    method = [
        make_ep(i, success_step=64 if i < 9 else 67, h=15, H=50, executed=[15] * 5)
        for i in range(10)
    ]
    assert M.mean_steps(method) == pytest.approx(64.3)
    assert M.spd_paper(base, method) == pytest.approx(5.83, abs=0.005)
    assert M.call_speedup(base, method) == pytest.approx(25 / 5)
    c = M.compare(base, method, n_boot=100)
    assert round(c["spd_paper"].value, 2) == 5.83
    assert c["spd_nominal"].value == pytest.approx(c["spd_paper"].value)
    assert c["steps_diff"].value == pytest.approx(64.3 - 125)
    assert c["steps_ratio"].value == pytest.approx(64.3 / 125)
    assert c["sr_diff"].value == 0.0
    assert c["call_speedup"].n == 20 and c["call_speedup"].meta["n_keys"] == 10


def test_spd_paper_equals_call_speedup_on_consistent_records():
    # measured h: S / h = total calls / successes, so Spd is the call ratio
    base = [make_ep(i, success_step=s, h=5) for i, s in enumerate([100, 120, 131])]
    method = [make_ep(i, success_step=s, h=15) for i, s in enumerate([64, 70, 52])]
    spd = M.spd_paper(base, method)
    assert spd == pytest.approx(M.call_speedup(base, method))
    assert spd == pytest.approx((20 + 24 + 27) / (5 + 5 + 4))
    # with the requested h plugged in, the formula gives the paper-style number
    assert M.spd_nominal(base, method) == pytest.approx((351 / 3 / 5) / (186 / 3 / 15))


def test_compare_e2e_and_sr_diff():
    base = [
        make_ep(0, success_step=100, policy_time_s=2.0),  # e2e 2 + 5 = 7
        make_ep(1, success_step=60, policy_time_s=1.0),  # 1 + 3 = 4
        make_ep(2, steps=300),
        make_ep(3, steps=300),
    ]
    method = [
        make_ep(0, success_step=40, h=10, policy_time_s=0.5),  # 0.5 + 2 = 2.5
        make_ep(1, success_step=20, h=10, policy_time_s=0.5),  # 0.5 + 1 = 1.5
        make_ep(2, success_step=30, h=10, policy_time_s=0.5),  # 0.5 + 1.5 = 2
        make_ep(3, steps=300, h=10),
    ]
    c = M.compare(base, method, n_boot=200, seed=1)
    assert c["e2e_speedup"].value == pytest.approx(5.5 / 2.0)
    assert c["sr_diff"].value == pytest.approx(0.75 - 0.5)
    assert c["call_speedup"].value == pytest.approx(16 / 3)  # (20 + 12)/2 vs (4 + 2 + 3)/3


def test_compare_uses_only_shared_initial_states():
    base = [make_ep(i, success_step=100, h=5) for i in range(4)]  # states 0-3, 20 calls
    method = [make_ep(i, success_step=100, h=10) for i in (2, 3)]  # 10 calls
    method += [make_ep(i, success_step=300, h=1) for i in (4, 5)]  # not in base: ignored
    base += [make_ep(0, steps=300, h=5, task="other")]  # another task: not in method
    c = M.compare(base, method, n_boot=100)
    assert c["call_speedup"].value == pytest.approx(2.0)
    assert c["call_speedup"].n == 4 and c["call_speedup"].meta["n_keys"] == 2
    assert c["sr_diff"].value == 0.0
    assert M.call_speedup(base, method) == pytest.approx(2.0)


def test_compare_without_shared_states_raises():
    base = [make_ep(i, success_step=50) for i in range(3)]
    method = [make_ep(i, success_step=50) for i in range(3, 6)]
    with pytest.raises(ValueError, match="share no initial state"):
        M.compare(base, method)
    with pytest.raises(ValueError, match="share no initial state"):
        M.spd_paper(base, [make_ep(0, success_step=50, suite="other")])


def test_compare_draws_the_same_states_for_both_policies():
    # per-state variation identical in both policies: a paired bootstrap sees no variation,
    # independent resampling of the two policies would give a wide interval
    eps = varied_episodes(n_states=20, reps=2, seed=5)
    c = M.compare(eps, eps, n_boot=200)
    for name in ["call_speedup", "spd_paper", "steps_ratio", "e2e_speedup"]:
        assert (c[name].lo, c[name].value, c[name].hi) == pytest.approx((1.0, 1.0, 1.0)), name
    assert (c["sr_diff"].lo, c["sr_diff"].hi) == (0.0, 0.0)


# ---------------------------------------------------------------- helpers


def test_group_by():
    eps = [
        make_ep(0, success_step=50, h=15, task="b"),
        make_ep(0, success_step=50, h=5, task="a"),
        make_ep(1, success_step=50, h=15, task="a"),
    ]
    by_h = M.group_by(eps, "exec_len")
    assert list(by_h) == [(5,), (15,)]
    assert [len(v) for v in by_h.values()] == [1, 2]
    by_task_h = M.group_by(eps, "task", "exec_len")
    assert list(by_task_h) == [("a", 5), ("a", 15), ("b", 15)]
    assert M.group_by(eps, ("task", "exec_len")) == by_task_h
    with pytest.raises(ValueError):
        M.group_by(eps)


def test_estimate_text_and_json():
    assert str(M.Estimate(98.0, 95.1, 100.0, 50)) == "98.0 [95.1, 100.0]"
    assert str(M.Estimate(0.98, 0.951, 1.0, 50)) == "0.980 [0.951, 1.000]"
    assert str(M.Estimate(5.832, 5.1, 6.55, 50)) == "5.83 [5.10, 6.55]"
    assert f"{M.Estimate(0.98, 0.951, 1.0, 50).scaled(100):.1f}" == "98.0 [95.1, 100.0]"
    out = M.to_json({"x": M.Estimate(np.float64(1.5), 1.0, 2.0, np.int64(3), {"flag": True})})
    assert out == {"x": {"value": 1.5, "lo": 1.0, "hi": 2.0, "n": 3, "flag": True}}
    assert type(out["x"]["n"]) is int and type(out["x"]["value"]) is float
