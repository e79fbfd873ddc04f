"""Stage-1 curricula: pattern assignment, frontier advance/hold, exact state round trip, and the
choice of stage 2's horizon."""

from __future__ import annotations

import json
import math

import pytest

from ptrim.curriculum import (
    FrontierCurriculum,
    PatternCurriculum,
    cyclic,
    select_stage2_horizon,
)


def json_round_trip(state):
    return json.loads(json.dumps(state))


# --------------------------------------------------------------------------------------------
# Pattern
# --------------------------------------------------------------------------------------------


def test_pattern_assigns_the_ladder_cyclically_within_a_group():
    cur = PatternCurriculum([5, 10, 15])
    assert cur.assign(8) == [5, 10, 15, 5, 10, 15, 5, 10]
    assert cur.assign(3) == [5, 10, 15]
    assert cur.assign(1) == [5]
    assert cur.assign(8) == cur.assign(8)  # every group starts at ladder[0]
    assert PatternCurriculum([15, 5]).assign(4) == [15, 5, 15, 5]  # order as given


def test_pattern_rejects_bad_ladders_and_group_sizes():
    with pytest.raises(ValueError, match="ladder"):
        PatternCurriculum([])
    with pytest.raises(ValueError, match="ladder"):
        PatternCurriculum([5, 0])
    with pytest.raises(ValueError, match="group_size"):
        cyclic([5], 0)


def test_pattern_per_horizon_success():
    cur = PatternCurriculum([5, 10, 15])
    cur.update([5, 10, 15, 5, 10, 15], [True, False, True, True, True, False])
    assert cur.per_horizon_success() == {5: 1.0, 10: 0.5, 15: 0.5}
    assert cur.log.counts() == {5: 2, 10: 2, 15: 2}
    assert cur.iteration == 1
    with pytest.raises(ValueError, match="one per rollout"):
        cur.update([5, 10], [True])


def test_pattern_window_keeps_only_recent_outcomes():
    cur = PatternCurriculum([5], window=2)
    cur.update([5, 5, 5], [False, True, True])
    assert cur.per_horizon_success() == {5: 1.0}  # the oldest (False) fell out
    cur.update([5], [False])
    assert cur.per_horizon_success() == {5: 0.5}


def test_pattern_state_round_trip():
    cur = PatternCurriculum([5, 10, 15], window=3)
    cur.update([5, 10, 15, 5], [True, False, True, False])
    state = json_round_trip(cur.state_dict())
    other = PatternCurriculum([5, 10, 15], window=3)
    other.load_state_dict(state)
    assert other.state_dict() == cur.state_dict()
    for c in (cur, other):
        c.update([5, 5, 5], [True, True, True])  # the window is still 3 after loading
    assert other.state_dict() == cur.state_dict()
    assert other.per_horizon_success()[5] == 1.0
    with pytest.raises(ValueError, match="config changed"):
        PatternCurriculum([5, 10]).load_state_dict(state)


# --------------------------------------------------------------------------------------------
# Frontier
# --------------------------------------------------------------------------------------------


def frontier(**kw) -> FrontierCurriculum:
    args = dict(start_h=5, H=15, step=5, tau=0.9, window=4, sr_base=1.0)
    return FrontierCurriculum(**(args | kw))


def test_frontier_ladder():
    assert frontier().ladder == [5, 10, 15]
    assert frontier(H=16).ladder == [5, 10, 15, 16]  # H always on the ladder
    assert frontier(start_h=15).ladder == [15]
    assert frontier(step=2, H=10).ladder == [5, 7, 9, 10]
    assert frontier().assign(8) == [5, 10, 15, 5, 10, 15, 5, 10]
    assert frontier().threshold == pytest.approx(0.9)


def test_frontier_rejects_bad_config():
    for bad in (dict(start_h=0), dict(start_h=16), dict(step=0), dict(tau=0.0)):
        with pytest.raises(ValueError):
            frontier(**bad)
    with pytest.raises(ValueError, match="window"):
        frontier(window=0)
    with pytest.raises(ValueError, match="sr_base"):
        frontier(sr_base=1.5)


def test_frontier_holds_until_the_window_is_full():
    cur = frontier()
    cur.update([10, 10, 10], [True, True, True])  # SR 1.0 but only 3 < 4 samples
    assert cur.frontier == 5 and cur.history == []
    cur.update([10], [True])  # window full, SR 1.0 >= 0.9
    assert cur.frontier == 10
    assert cur.ladder == [10, 15]
    assert cur.history == [{"iteration": 2, "from": 5, "to": 10, "sr": 1.0, "n": 4}]


def test_frontier_holds_below_threshold_and_advances_when_the_window_slides():
    cur = frontier()
    cur.update([10, 10, 10, 10], [False, True, True, True])  # 0.75 < 0.9
    assert cur.frontier == 5
    cur.update([10], [True])  # the False slides out: window [T, T, T, T]
    assert cur.frontier == 10 and cur.history[-1]["iteration"] == 2


def test_frontier_threshold_is_inclusive_and_scaled_by_sr_base():
    cur = frontier(tau=1.0, sr_base=0.75)  # threshold 0.75
    cur.update([10] * 4, [True, True, True, False])  # exactly 0.75
    assert cur.frontier == 10
    cur = frontier(tau=1.0, sr_base=0.8)
    cur.update([10] * 4, [True, True, True, False])  # 0.75 < 0.8
    assert cur.frontier == 5


def test_frontier_looks_only_at_the_next_rung_one_rung_per_update():
    cur = frontier()
    cur.update([15] * 4, [True] * 4)  # h = 15 holds, but the next rung (10) has no data
    assert cur.frontier == 5
    cur.update([10] * 4, [True] * 4)
    assert cur.frontier == 10  # one rung, although 15 already qualifies
    cur.update([], [])
    assert cur.frontier == 15
    assert cur.next_rung() is None and cur.ladder == [15]
    cur.update([15] * 4, [True] * 4)
    assert cur.frontier == 15  # never beyond H
    assert [(e["from"], e["to"]) for e in cur.history] == [(5, 10), (10, 15)]


def test_frontier_last_rung_is_capped_at_H():
    cur = frontier(H=12)
    cur.update([10] * 4, [True] * 4)
    assert cur.frontier == 10 and cur.next_rung() == 12
    cur.update([12] * 4, [True] * 4)
    assert cur.frontier == 12 and cur.ladder == [12]


def test_frontier_never_moves_back():
    cur = frontier()
    cur.update([10] * 4, [True] * 4)
    cur.update([10] * 4, [False] * 4)
    assert cur.frontier == 10


def test_frontier_state_round_trip_is_exact():
    cur = frontier(tau=0.85, sr_base=0.93)
    cur.update([5, 10, 15, 5, 10, 15], [True, True, False, True, True, True])
    cur.update([10, 10, 15], [True, True, False])
    assert cur.frontier == 10
    state = cur.state_dict()
    other = frontier(tau=0.85, sr_base=0.93)
    other.load_state_dict(json_round_trip(state))
    assert other.state_dict() == state
    assert other.frontier == 10 and other.iteration == 2 and other.history == cur.history
    assert other.assign(8) == cur.assign(8)
    for c in (cur, other):  # the window (4) still applies after loading
        c.update([15, 15, 15, 15, 15], [False, True, True, True, True])
    assert other.state_dict() == cur.state_dict()
    assert other.frontier == 15


def test_frontier_load_rejects_another_config_or_kind():
    state = frontier().state_dict()
    with pytest.raises(ValueError, match="config changed"):
        frontier(window=5).load_state_dict(state)
    with pytest.raises(ValueError, match="'frontier' curriculum"):
        PatternCurriculum([5, 10, 15]).load_state_dict(state)


# --------------------------------------------------------------------------------------------
# Stage 2 horizon
# --------------------------------------------------------------------------------------------


def test_select_stage2_horizon_longest_that_holds():
    sr = {5: 0.98, 10: 0.97, 15: 0.90}
    assert select_stage2_horizon(sr, sr_base=0.98, tolerance=0.02) == 10
    assert select_stage2_horizon(sr, sr_base=0.98, tolerance=0.1) == 15
    assert select_stage2_horizon(sr, sr_base=0.98, tolerance=0.0) == 5


def test_select_stage2_horizon_boundary_is_inclusive():
    assert select_stage2_horizon({5: 1.0, 10: 0.75}, sr_base=1.0, tolerance=0.25) == 10
    assert select_stage2_horizon({5: 1.0, 10: 0.75}, sr_base=1.0, tolerance=0.2) == 5


def test_select_stage2_horizon_judges_each_h_on_its_own():
    assert select_stage2_horizon({5: 0.9, 10: 0.7, 15: 0.95}, sr_base=1.0, tolerance=0.0) == 15


def test_select_stage2_horizon_compares_sampled_rates_with_the_shortest_rung():
    # stage 1's rates are sampled; the base's is deterministic and may be higher than any of them
    sampled = {5: 0.75, 10: 0.75, 15: 0.41}
    assert select_stage2_horizon(sampled, sr_base=0.84, tolerance=0.05) == 10
    # a base below the shortest rung stays the reference
    sampled = {5: 0.95, 10: 0.85, 15: 0.7}
    assert select_stage2_horizon(sampled, sr_base=0.8, tolerance=0.05) == 10
    assert select_stage2_horizon(sampled, sr_base=0.95, tolerance=0.05) == 5


def test_select_stage2_horizon_falls_back_to_the_smallest():
    assert select_stage2_horizon({10: 0.1, 5: 0.2, 15: 0.0}, sr_base=0.9, tolerance=0.05) == 5
    assert select_stage2_horizon({5: math.nan, 10: 0.1}, sr_base=0.9, tolerance=0.0) == 10
    with pytest.raises(ValueError, match="no horizon"):
        select_stage2_horizon({5: math.nan}, sr_base=0.9, tolerance=0.0)


def test_select_from_a_curriculum_log():
    cur = PatternCurriculum([5, 10, 15])
    cur.update([5, 10, 15] * 4, [True, True, True] * 3 + [True, True, False])
    assert cur.per_horizon_success() == {5: 1.0, 10: 1.0, 15: 0.75}
    assert select_stage2_horizon(cur.per_horizon_success(), sr_base=1.0, tolerance=0.1) == 10
