import functools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ptrim import evaluate, figures, metrics, paper, profiling
from ptrim.envs.batch import EnvBatch
from ptrim.episode import EpisodeRecord
from ptrim.models.base import Plan
from ptrim.rollout import Job, rollout
from tests.fakes import CountingEnv, NoisePolicy, record

SPEED = 0.002


def batch_of(*envs):
    return EnvBatch([functools.partial(lambda e: e, e) for e in envs])


# ------------------------------------------------------------------------------ grid


@pytest.mark.parametrize(
    ("H", "base", "points", "expected"),
    [
        (15, 5, 6, [3, 5, 8, 10, 13, 15]),  # 2.5, 5, 7.5, 10, 12.5, 15 rounded half up
        (8, 8, 6, [1, 3, 4, 5, 7, 8]),
        (20, 5, 6, [3, 5, 7, 10, 13, 17, 20]),  # base 5 added to the 6 even points
        (16, 5, 4, [4, 5, 8, 12, 16]),
        (3, 1, 6, [1, 2, 3]),  # rounding merges duplicates
        (1, 1, 6, [1]),
    ],
)
def test_exec_len_grid(H, base, points, expected):
    assert profiling.exec_len_grid(H, base, points) == expected


def test_exec_len_grid_always_holds_base_and_H_within_range():
    for H in range(1, 41):
        for base in (1, (H + 1) // 2, H):
            grid = profiling.exec_len_grid(H, base, 6)
            assert base in grid and grid[-1] == H and grid[0] >= 1
            assert grid == sorted(set(grid))


@pytest.mark.parametrize(("H", "base", "points"), [(0, 1, 6), (8, 9, 6), (8, 0, 6), (8, 4, 0)])
def test_exec_len_grid_rejects_bad_arguments(H, base, points):
    with pytest.raises(ValueError):
        profiling.exec_len_grid(H, base, points)


# ------------------------------------------------------------------------------ reliable h


def rows_of(*pairs):
    return [{"h": h, "success_rate": sr} for h, sr in pairs]


def test_reliable_h_on_the_papers_curve():
    rows = rows_of((5, 0.982), (7, 0.988), (9, 0.99), (11, 0.95), (13, 0.948), (15, 0.898))
    assert profiling.reliable_exec_len(rows, 0.05) == 13  # 0.948 >= 0.99 - 0.05
    assert profiling.reliable_exec_len(rows, 0.02) == 9
    assert profiling.reliable_exec_len(rows, 0.1) == 15


def test_reliable_h_ties_take_the_largest_and_epsilon_zero_keeps_only_the_best():
    assert profiling.reliable_exec_len(rows_of((5, 1.0), (10, 1.0), (15, 1.0)), 0.0) == 15
    assert profiling.reliable_exec_len(rows_of((5, 1.0), (10, 0.99)), 0.0) == 5
    assert profiling.reliable_exec_len(rows_of((15, 0.5), (5, 0.5)), 0.0) == 15  # order-free


def test_reliable_h_boundary_is_inclusive_despite_float_rounding():
    assert 0.8 - 0.1 > 0.7  # the float trap the tolerance exists for
    assert profiling.reliable_exec_len(rows_of((5, 0.8), (10, 0.7)), 0.1) == 10
    assert profiling.reliable_exec_len(rows_of((5, 0.8), (10, 0.699)), 0.1) == 5


def test_reliable_h_on_a_non_monotone_curve():
    rows = rows_of((5, 1.0), (10, 0.8), (15, 0.98), (20, 0.5))
    assert profiling.reliable_exec_len(rows, 0.05) == 15  # beyond the dip at 10
    assert profiling.reliable_exec_len(rows, 0.05, contiguous=True) == 5
    rows = rows_of((5, 0.9), (10, 1.0), (15, 0.97), (20, 0.5))  # best in the middle
    assert profiling.reliable_exec_len(rows, 0.05, contiguous=True) == 15
    assert profiling.reliable_exec_len(rows, 0.05) == 15


def test_reliable_h_ignores_rows_without_a_success_rate():
    rows = rows_of((5, None), (10, math.nan), (15, 0.5))
    assert profiling.reliable_exec_len(rows, 0.05) == 15
    with pytest.raises(ValueError):
        profiling.reliable_exec_len(rows_of((5, None)), 0.05)
    with pytest.raises(ValueError):
        profiling.reliable_exec_len([], 0.05)


# ------------------------------------------------------------------------------ trace


def test_trace_is_off_by_default():
    [ep] = rollout(NoisePolicy(4), batch_of(CountingEnv({0: 6})), [Job(0, 0, 2, 0)])
    assert ep.proprio_trace is None and ep.action_trace is None


def test_trace_records_proprio_after_reset_and_every_step_and_the_actions():
    a, b = CountingEnv({0: 7, 1: 3}), CountingEnv({0: 5})
    jobs = [Job(0, 0, 3, 0), Job(0, 1, 2, 1), Job(1, 0, 4, 2)]
    eps = rollout(NoisePolicy(4), batch_of(a, b), jobs, trace=True)
    assert [e.steps for e in eps] == [7, 3, 5]
    for ep in eps:
        assert ep.proprio_trace.shape == (ep.steps + 1, 2)
        assert ep.action_trace.shape == (ep.steps, 2)
        np.testing.assert_array_equal(ep.proprio_trace[:, 0], np.arange(ep.steps + 1))
        assert (ep.proprio_trace[:, 1] == ep.init_index).all()
        executed = np.concatenate([c.plan[: c.executed] for c in ep.calls])
        np.testing.assert_array_equal(ep.action_trace, executed)
    # env a ran two episodes: its last one's actions are what the env saw last
    np.testing.assert_array_equal(eps[1].action_trace, np.stack(a.actions))


def test_trace_does_not_change_the_outcome_and_stays_out_of_the_summary():
    job = [Job(0, 0, 3, 5)]
    plain = rollout(NoisePolicy(4), batch_of(CountingEnv({0: 9})), job)[0]
    traced = rollout(NoisePolicy(4), batch_of(CountingEnv({0: 9})), job, trace=True)[0]
    assert traced.summary().keys() == plain.summary().keys()
    assert "proprio_trace" not in traced.summary() and "action_trace" not in traced.summary()
    for c1, c2 in zip(plain.calls, traced.calls, strict=True):
        np.testing.assert_array_equal(c1.plan, c2.plan)
    again = EpisodeRecord.from_summary(traced.summary())
    assert again.summary() == traced.summary() and again.proprio_trace is None


def test_env_batch_proprio_inline_in_the_order_asked():
    a, b = CountingEnv({}), CountingEnv({})
    envs = batch_of(a, b)
    envs.reset({0: 3, 1: 4})
    envs.step({1: np.zeros(2)})
    out = envs.proprio([1, 0])
    np.testing.assert_array_equal(out[0], [1, 4])
    np.testing.assert_array_equal(out[1], [0, 3])


def test_env_batch_proprio_subprocess_worker():
    with EnvBatch([functools.partial(CountingEnv, {0: 3})], workers="subprocess") as envs:
        envs.reset({0: 2})
        envs.step({0: np.zeros(2)})
        envs.step({0: np.zeros(2)})
        [p] = envs.proprio([0])
    np.testing.assert_array_equal(p, [2, 2])


# ------------------------------------------------------------------------------ sweep

SOLVE = {"a": {0: 10, 1: 13, 2: 17}, "b": {0: 21, 1: 6}}  # b from state 2 never succeeds


@pytest.fixture
def fake_libero(monkeypatch):
    def make_env(cfg, suite, task, seed=0):
        return CountingEnv(SOLVE[task], max_steps=30, task=task)

    monkeypatch.setattr(evaluate, "make_env", make_env)
    return SimpleNamespace(
        bench=lambda suite: SimpleNamespace(task_list=lambda suite: ["a", "b"], init_states=50),
        rollout=SimpleNamespace(num_envs=2, workers="inline", backend="local"),
    )


def test_sweep_pairs_states_and_seeds_across_h_and_calls_fall(fake_libero):
    by_h = profiling.sweep(
        NoisePolicy(8),
        fake_libero,
        "fake",
        [8, 1, 4, 2, 4],
        init_states=3,
        seed=7,
        progress=False,
    )
    assert list(by_h) == [1, 2, 4, 8]
    first = by_h[1]
    assert len(first) == 6
    for h, eps in by_h.items():
        assert all(e.exec_len == h for e in eps)
        assert [(e.task, e.init_index, e.seed) for e in eps] == [
            (e.task, e.init_index, e.seed) for e in first
        ]
        assert [e.steps for e in eps] == [e.steps for e in first]
        for e, f in zip(eps, first, strict=True):  # same noise seed: same first plan
            np.testing.assert_array_equal(e.calls[0].plan, f.calls[0].plan)
            assert e.n_calls == math.ceil(e.steps / h)
            assert e.proprio_trace.shape == (e.steps + 1, 2)
    assert len({e.seed for e in first}) == 6
    rows = profiling.sweep_table(by_h, seed=0, n_boot=50)
    assert [r["h"] for r in rows] == [1, 2, 4, 8]
    calls = [r["calls_all"] for r in rows]
    assert calls == sorted(calls, reverse=True) and len(set(calls)) == 4
    for r, (h, eps) in zip(rows, by_h.items(), strict=True):
        assert r["n"] == 6 and r["successes"] == 5
        assert r["success_rate"] == pytest.approx(5 / 6)
        assert r["steps"] == pytest.approx((10 + 13 + 17 + 21 + 6) / 5)
        assert r["calls_all"] == pytest.approx(np.mean([math.ceil(e.steps / h) for e in eps]))
        assert r["wall_time"] > 0
        assert all(f"{m}_hi" in r for m in (*profiling.SWEEP_METRICS, "wall_time"))
        for name in ("success_rate", "steps", "steps_all", "calls", "calls_all", "exec_len"):
            # deterministic on the fakes (timings are not): the interval brackets the value
            assert r[f"{name}_lo"] <= r[name] + 1e-12 <= r[f"{name}_hi"] + 2e-12, name


def test_sweep_without_trace_and_with_explicit_states(fake_libero):
    by_h = profiling.sweep(
        NoisePolicy(4),
        fake_libero,
        "fake",
        [2],
        tasks=["b"],
        init_states=[1],
        seed=0,
        trace=False,
        progress=False,
    )
    [ep] = by_h[2]
    assert (ep.task, ep.init_index, ep.steps, ep.proprio_trace) == ("b", 1, 6, None)


def test_repeated_rollouts_have_distinct_seeds_per_repeat(fake_libero):
    eps = profiling.repeated_rollouts(
        NoisePolicy(4),
        fake_libero,
        "fake",
        exec_len=2,
        init_states=2,
        repeats=3,
        seed=1,
        progress=False,
    )
    assert len(eps) == 2 * 2 * 3
    assert len({e.seed for e in eps}) == 12
    assert [(e.task, e.init_index) for e in eps[:6]] == [("a", 0)] * 3 + [("a", 1)] * 3


# ------------------------------------------------------------------------------ step variance


def test_step_variance_per_state_and_task():
    eps = [
        record("a", 0, True, 10),
        record("a", 0, True, 12),
        record("a", 0, False, 0),
        record("b", 0, True, 30),
        record("a", 0, True, 14),
        record("a", 1, True, 20),
        record("b", 0, True, 30),
        record("b", 1, False, 0),
    ]
    v = profiling.step_variance(eps)
    states = {(s["task"], s["init_index"]): s for s in v["states"]}
    a0 = states[("a", 0)]
    assert (a0["episodes"], a0["successes"], a0["steps"]) == (4, 3, [10, 12, 14])
    assert a0["mean"] == 12 and a0["std"] == pytest.approx(math.sqrt(8 / 3))
    assert a0["cv"] == pytest.approx(math.sqrt(8 / 3) / 12)
    assert states[("a", 1)]["mean"] == 20 and math.isnan(states[("a", 1)]["cv"])
    assert states[("b", 0)]["cv"] == 0.0
    assert math.isnan(states[("b", 1)]["mean"]) and states[("b", 1)]["steps"] == []
    assert v["per_task"] == {"a": [10, 12, 14, 20], "b": [30, 30]}
    assert v["mean_cv"] == pytest.approx((math.sqrt(8 / 3) / 12 + 0) / 2)
    assert v["mean_cv"] == pytest.approx(metrics.step_cv(eps))
    long = profiling.variance_rows(v)
    assert len(long) == 6 and {"task": "b", "init_index": 0, "steps": 30} in long


# ------------------------------------------------------------------------------ redundancy


def line(start, step, n):
    """``n`` steps from ``start`` by ``step``: ``n + 1`` positions."""
    return np.asarray(start, float) + np.arange(n + 1)[:, None] * np.asarray(step, float)


def chain(*segments):
    out = [segments[0]]
    for s in segments[1:]:
        out.append(s[1:] + out[-1][-1] - s[0])
    return np.concatenate(out)


OPEN = -1.0
CLOSE = 1.0


def test_straight_move_has_ratio_one_and_nothing_redundant():
    ee = line([0, 0, 0], [0.01, 0, 0], 20)
    cmd = np.full(20, OPEN)
    r = profiling.redundancy((ee, cmd), SPEED)
    assert r["path_ratio"] == pytest.approx(1.0)
    assert (r["still_steps"], r["regrasp_steps"], r["gripper_reclosures"]) == (0, 0, 0)
    assert (r["steps"], r["redundant_share"]) == (20, 0.0)
    assert r["path_length"] == pytest.approx(0.2)


def test_a_pause_of_k_steps_is_k_still_steps():
    for k in (1, 6):
        ee = chain(
            line([0, 0, 0], [0.01, 0, 0], 10),
            line([0, 0, 0], [0, 0, 0], k),
            line([0, 0, 0], [0.01, 0, 0], 10),
        )
        cmd = np.full(20 + k, OPEN)
        assert profiling.still_steps(ee, SPEED, cmd) == k
        assert profiling.path_ratio(ee, cmd) == pytest.approx(1.0)
        assert profiling.redundancy((ee, cmd), SPEED)["redundant_share"] == pytest.approx(
            k / (20 + k)
        )
    slow = line([0, 0, 0], [0.0019, 0, 0], 5)  # just under the threshold: still
    assert profiling.still_steps(slow, SPEED) == 5
    assert profiling.still_steps(line([0, 0, 0], [0.0021, 0, 0], 5), SPEED) == 0


def test_a_pause_while_the_gripper_switches_is_not_counted():
    ee = chain(
        line([0, 0, 0], [0.01, 0, 0], 10),
        line([0, 0, 0], [0, 0, 0], 6),
        line([0, 0, 0], [0.01, 0, 0], 10),
    )
    cmd = np.array([OPEN] * 10 + [CLOSE] * 16)  # close at step 10: the pause's first step
    assert profiling.still_steps(ee, SPEED, cmd) == 0  # window 2 before, 10 after
    assert profiling.still_steps(ee, SPEED, cmd, grip_window=(0, 0)) == 5
    assert profiling.still_steps(ee, SPEED, cmd, grip_window=(0, 3)) == 2
    assert profiling.still_steps(ee, SPEED) == 6  # without gripper commands


def test_l_shaped_detour_ratio():
    ee = chain(line([0, 0, 0], [0.01, 0, 0], 10), line([0, 0, 0], [0, 0.01, 0], 10))
    assert profiling.path_ratio(ee, np.full(20, OPEN)) == pytest.approx(math.sqrt(2))
    corner = np.array([OPEN] * 10 + [CLOSE] * 10)  # a grasp at the corner: two straight legs
    assert profiling.path_ratio(ee, corner) == pytest.approx(1.0)
    mid = np.array([OPEN] * 5 + [CLOSE] * 15)  # waypoints at 0, 5, 20
    assert profiling.path_ratio(ee, mid) == pytest.approx(0.2 / (0.05 + math.sqrt(0.0125)))
    back = chain(line([0, 0, 0], [0.01, 0, 0], 10), line([0, 0, 0], [-0.01, 0, 0], 10))
    assert math.isnan(profiling.path_ratio(back, np.full(20, OPEN)))  # ends where it began


def test_close_open_close_is_one_reclosure_with_its_regrasp_steps():
    cmd = np.array([OPEN] * 3 + [CLOSE] * 4 + [OPEN] * 2 + [CLOSE] * 3)
    np.testing.assert_array_equal(profiling.gripper_switches(cmd), [3, 7, 9])
    assert profiling.gripper_reclosures(cmd) == 1
    assert profiling.regrasp_steps(cmd) == 2
    np.testing.assert_array_equal(np.flatnonzero(profiling.regrasp_mask(cmd)), [7, 8])
    pick_and_place = np.array([OPEN] * 3 + [CLOSE] * 4 + [OPEN] * 5)
    assert (
        profiling.gripper_reclosures(pick_and_place),
        profiling.regrasp_steps(pick_and_place),
    ) == (0, 0)
    twice = np.array([OPEN, CLOSE, OPEN, OPEN, CLOSE, OPEN, CLOSE])
    assert (profiling.gripper_reclosures(twice), profiling.regrasp_steps(twice)) == (2, 3)
    assert profiling.gripper_reclosures(np.array([CLOSE, CLOSE, OPEN, CLOSE])) == 1  # step 0
    assert profiling.gripper_reclosures(np.full(5, OPEN)) == 0


def test_redundant_steps_count_still_and_regrasp_steps_once():
    cmd = np.array([OPEN] * 3 + [CLOSE] * 4 + [OPEN] * 2 + [CLOSE] * 3)
    ee = np.zeros((13, 3))  # never moves
    r = profiling.redundancy((ee, cmd), SPEED, grip_window=(0, 0))
    # still: every step but the switches 3, 7, 9; regrasp: 7, 8 (8 is also still)
    assert (r["still_steps"], r["regrasp_steps"], r["redundant_steps"]) == (9, 2, 10)
    assert r["redundant_share"] == pytest.approx(10 / 12)
    assert math.isnan(r["path_ratio"])


def test_redundancy_reads_traced_episodes():
    ee = chain(line([0, 0, 0], [0.01, 0, 0], 10), line([0, 0, 0], [0, 0, 0], 4))
    proprio = np.concatenate([ee, np.ones((15, 5))], axis=1)  # ee, axis-angle, fingers
    actions = np.zeros((14, 7))
    actions[:, -1] = OPEN
    ep = record("a", 0, True, 14, proprio_trace=proprio, action_trace=actions)
    assert profiling.redundancy(ep, SPEED) == profiling.redundancy((ee, actions[:, -1]), SPEED)
    assert profiling.redundancy(ep, SPEED)["still_steps"] == 4
    with pytest.raises(ValueError, match="trace"):
        profiling.redundancy(record("a", 0, True, 14), SPEED)
    with pytest.raises(ValueError):
        profiling.redundancy((ee, actions[:-1, -1]), SPEED)


def traced(task, init, success, still, *, h, moving=10):
    """A traced record: ``moving`` steps along x, then ``still`` steps in place."""
    ee = chain(line([0, 0, 0], [0.01, 0, 0], moving), line([0, 0, 0], [0, 0, 0], still))
    n = moving + still
    actions = np.zeros((n, 7))
    actions[:, -1] = OPEN
    proprio = np.concatenate([ee, np.zeros((n + 1, 5))], axis=1)
    ep = record(task, init, success, n, h=h, proprio_trace=proprio, action_trace=actions)
    ep.steps = n
    return ep


def test_redundancy_table_averages_successes_per_h():
    by_h = {
        10: [traced("a", 0, True, 0, h=10)],
        5: [
            traced("a", 0, True, 0, h=5),
            traced("a", 1, True, 10, h=5),  # half of its steps still
            traced("a", 2, False, 30, h=5),  # a failure: left out
        ],
    }
    rows = profiling.redundancy_table(by_h, SPEED, seed=0, n_boot=50)
    assert [(r["h"], r["n"]) for r in rows] == [(5, 2), (10, 1)]
    assert rows[0]["redundant_share"] == pytest.approx(0.25)
    assert rows[0]["still_steps"] == pytest.approx(5.0)
    assert rows[0]["redundant_share_lo"] <= 0.25 <= rows[0]["redundant_share_hi"]
    assert rows[1]["redundant_share"] == 0.0 and rows[1]["path_ratio"] == pytest.approx(1.0)
    assert rows[0]["path_ratio"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------ tail error


class RampPolicy:
    """Plans ``0.1 * k * (d + 1)`` at position ``k``, dimension ``d``, whatever it sees."""

    plan_horizon = 4

    def __init__(self):
        self.seen = []

    def plan(self, obs, *, sample, generator):
        assert sample is False
        self.seen.append(len(obs["proprio"]))
        assert len(generator) == len(obs["proprio"])
        k = np.arange(4)[:, None] * np.array([1.0, 2.0])[None, :] * 0.1
        return Plan(actions=np.repeat(k[None], len(obs["proprio"]), axis=0))


def item(value, n_real):
    actions = torch.full((4, 2), float(value))
    actions[n_real:] = 100.0  # padding: must not count
    return {
        "images": {"agentview": torch.zeros(2, 2, 3, dtype=torch.uint8)},
        "proprio": torch.zeros(8),
        "instruction": "x",
        "actions": actions,
        "action_mask": torch.arange(4) < n_real,
    }


def test_tail_error_per_position_over_real_demo_actions():
    data = [item(0.0, 4), item(-1.0, 2)]
    policy = RampPolicy()
    out = profiling.tail_error(policy, data, n=5, seed=3)
    assert out["position"] == [0, 1, 2, 3] and out["count"] == [2, 2, 1, 1]
    # k=0: errors (0,0) and (1,1); k=1: (.1,.2) and (1.1,1.2); k>=2: the first sample only
    assert out["mae"] == pytest.approx([0.5, (0.15 + 1.15) / 2, 0.3, 0.45])
    assert out["mae_by_dim"][1] == pytest.approx([0.6, 0.7])
    assert policy.seen == [2]
    small = profiling.tail_error(RampPolicy(), data, n=2, seed=3, batch_size=1)
    assert small["mae"] == pytest.approx(out["mae"]) and small["count"] == out["count"]
    only_short = profiling.tail_error(RampPolicy(), [item(-1.0, 2)], n=1)
    assert only_short["count"] == [1, 1, 0, 0] and math.isnan(only_short["mae"][3])
    assert profiling.tail_rows(out)[2] == {"position": 2, "mae": pytest.approx(0.3), "count": 1}


# ------------------------------------------------------------------------------ keyframes


class PathEnv(CountingEnv):
    """End effector moves 1 cm per step along x; from initial state 1 it stands still for
    steps 4..9 (the steps that end at t = 5..10)."""

    def proprio(self):
        moving = self.t if self.init != 1 else min(self.t, 4) + max(0, self.t - 10)
        return np.array([0.01 * moving, 0, 0, 0, 0, 0, 0, 0], np.float32)


class OpenGripperPolicy:
    plan_horizon = 4

    def plan(self, obs, *, sample, generator):
        actions = np.zeros((len(obs["proprio"]), 4, 7), np.float32)
        actions[..., -1] = OPEN
        return Plan(actions=actions)


def test_keyframes_rerun_the_most_redundant_success():
    solve = {0: 12, 1: 12, 2: 12}
    env = PathEnv(solve, max_steps=20, task="t")
    jobs = [Job(0, 0, 4, 10), Job(0, 1, 4, 11), Job(0, 2, 4, 12)]
    eps = rollout(OpenGripperPolicy(), batch_of(env), jobs, trace=True)
    assert profiling.redundancy(eps[1], SPEED)["still_steps"] == 6
    best = profiling.most_redundant(eps, SPEED)
    assert best is eps[1]
    make_env = lambda task: PathEnv(solve, max_steps=20, task=task)  # noqa: E731
    kf = profiling.keyframes(OpenGripperPolicy(), best, make_env, n_frames=3)
    assert (kf["task"], kf["init_index"], kf["exec_len"], kf["seed"]) == ("t", 1, 4, 11)
    assert kf["reproduced"] and kf["steps"] == 12
    assert kf["frame_steps"] == [0, 4, 8]
    assert [int(f[0, 0, 0]) for f in kf["frames"]] == [0, 4, 8]  # CountingEnv paints t
    assert profiling.keyframes(OpenGripperPolicy(), best, make_env, n_frames=2)["frame_steps"] == [
        0,
        8,
    ]
    assert profiling.most_redundant([eps[0]], SPEED) is eps[0]
    assert profiling.most_redundant([record("a", 0, True, 3)], SPEED) is None  # no trace


# ------------------------------------------------------------------------------ tables, figures


def test_jsonable_and_csv(tmp_path):
    est = metrics.Estimate(0.5, math.nan, 1.0, 3)
    out = profiling.jsonable({"a": np.float32(0.25), "b": [np.int64(2), math.nan], "e": est})
    assert out == {"a": 0.25, "b": [2, None], "e": {"value": 0.5, "lo": None, "hi": 1.0, "n": 3}}
    path = profiling.write_csv([{"h": 5, "x": 0.1}, {"h": 10, "x": math.nan}], tmp_path / "d/t.csv")
    assert path.read_text().splitlines() == ["h,x", "5,0.1", "10,"]
    stem = profiling.figure_stem(tmp_path, "fig1b_exec_length", "pi05", "libero_spatial")
    assert stem.name == "fig1b_exec_length_pi05-libero_spatial"


def test_profiling_figures_draw_and_save(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rows = [
        {
            "h": h,
            "success_rate": sr,
            "success_rate_lo": sr - 0.1,
            "success_rate_hi": sr,
            "steps": st,
            "steps_lo": st - 5,
            "steps_hi": st + 5,
        }
        for h, sr, st in ((2, 1.0, 40.0), (4, 0.9, 45.0), (8, 0.5, 60.0))
    ]
    rows[-1].update(steps=None, steps_lo=None, steps_hi=None)  # as read back from JSON
    fig = figures.fig1b_exec_length(rows, reliable_h=4)
    assert len(fig.axes) == 4  # two panels, each with its twin
    paper_sr = fig.axes[1].lines[0].get_ydata()
    np.testing.assert_allclose(paper_sr, paper.FIG1B["success_rate"])
    assert fig.axes[1].get_title() == "paper (π0.5, LIBERO-Spatial)"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [100, 90, 50])
    paths = figures.save_figure(fig, tmp_path / "figs" / "fig1b")
    assert [p.name for p in paths] == ["fig1b.png", "fig1b.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)

    v = {"per_task": {"a": [10, 12, 14], "b": []}, "mean_cv": 0.1}
    assert len(figures.fig1a_step_variance(v, "x").axes) == 1
    red = [{"h": 2, "redundant_share": 0.1, "path_ratio": 1.2}]
    kf = {
        "task": "t",
        "init_index": 1,
        "exec_len": 4,
        "frame_steps": [0, 4],
        "frames": [np.zeros((4, 4, 3), np.uint8)] * 2,
    }
    assert len(figures.fig1c_redundancy(red, kf).axes) == 4
    assert len(figures.fig1c_redundancy(red).axes) == 2
    import matplotlib.pyplot as plt

    plt.close("all")
