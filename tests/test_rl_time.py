"""Where RL wall time went (ptrim/rl_time.py), on hand-made histories."""

from __future__ import annotations

import json

import pytest

from ptrim import rl_time


def _iteration(wall_s, sim, render, policy, update):
    return {
        "wall_s": wall_s,
        "time/sim_s": sim,
        "time/render_s": render,
        "time/policy_s": policy,
        "time/update_s": update,
    }


def test_shares_sum_the_iterations_against_the_last_wall_time():
    history = [_iteration(10.0, 6.0, 2.0, 2.0, 1.0), _iteration(20.0, 8.0, 3.0, 1.0, 0.5)]
    s = rl_time.shares(history)
    assert s["wall_s"] == 20.0 and s["sim_s"] == 14.0 and s["render_s"] == 5.0
    assert s["sim"] == pytest.approx(0.7) and s["render"] == pytest.approx(0.25)
    assert s["policy"] == pytest.approx(0.15) and s["update"] == pytest.approx(0.075)
    # render is inside sim: "other" is the wall time no part covers
    assert s["other_s"] == pytest.approx(20.0 - 14.0 - 3.0 - 1.5)


def test_an_empty_history_is_an_error_and_the_cli_names_a_missing_file(tmp_path, capsys):
    with pytest.raises(ValueError, match="no iteration"):
        rl_time.shares([])
    run = tmp_path / "stage1" / "oft-x"
    run.mkdir(parents=True)
    with pytest.raises(SystemExit, match="history.json"):
        rl_time.main([str(run)])
    (run / "history.json").write_text(json.dumps([_iteration(60.0, 45.0, 30.0, 9.0, 6.0)]))
    rl_time.main([str(run)])
    out = capsys.readouterr().out
    assert "sim  75.0%" in out and "render  50.0%" in out and "1.0 min" in out
