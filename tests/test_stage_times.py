"""Stage running times summed over interruptions (ptrim/stage_times.py), on a fake clock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ptrim import stage_times
from ptrim.stage_times import StageClock


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _clock(tmp_path, clock, stem="02_sft_oft-libero_object", profile="default"):
    # a period far longer than the test: only the explicit refreshes below count time
    return StageClock(tmp_path, stem, profile, period=1000.0, clock=clock)


def test_a_finished_run_counts_its_running_time_and_skips_a_stopped_stretch(tmp_path):
    clock = FakeClock()
    with _clock(tmp_path, clock) as c:
        assert (tmp_path / "02_sft_oft-libero_object.running.json").exists()
        clock.t = 600.0
        c._refresh()
        clock.t = 900.0
        c._refresh()
        clock.t = 900.0 + 10_000  # SIGSTOPped for ~3 h: longer than 3 periods, not running
        c._refresh()
        clock.t += 120.0
    [run] = stage_times.read(tmp_path)
    assert run["ok"] is True and run["running_s"] == 1020.0
    assert run["stage"] == "02_sft_oft-libero_object" and run["profile"] == "default"
    assert not (tmp_path / "02_sft_oft-libero_object.running.json").exists()


def test_a_failed_run_is_recorded_as_failed_and_the_error_still_raises(tmp_path):
    clock = FakeClock()
    with pytest.raises(RuntimeError, match="cell failed"):
        with _clock(tmp_path, clock):
            clock.t = 30.0
            raise RuntimeError("cell failed")
    [run] = stage_times.read(tmp_path)
    assert run["ok"] is False and run["running_s"] == 30.0


def test_a_killed_run_is_recovered_by_the_next_run_of_the_stage(tmp_path):
    clock = FakeClock()
    killed = _clock(tmp_path, clock).__enter__()
    clock.t = 2000.0
    killed._refresh()
    clock.t = 2900.0
    killed._refresh()  # its last heartbeat; then the process dies without __exit__
    killed._stop.set()
    clock2 = FakeClock()
    with _clock(tmp_path, clock2):
        clock2.t = 500.0
    first, second = stage_times.read(tmp_path)
    assert first["ok"] is None and first["running_s"] == 2900.0
    assert second["ok"] is True and second["running_s"] == 500.0
    [row] = stage_times.summary([first, second], "default")
    assert row == {
        "stage": "02_sft_oft-libero_object",
        "runs": 2,
        "killed": 1,
        "running_s": 3400.0,
        "build_s": 3400.0,  # the killed run was resumed by the finished one: one build
        "last_ok": True,
    }


def test_a_sigkilled_process_leaves_a_heartbeat_the_next_run_folds_in(tmp_path):
    """The real thing: a child timing itself with a 0.1 s heartbeat is SIGKILLed."""
    code = (
        "import sys, time; from ptrim.stage_times import StageClock\n"
        f"with StageClock({str(tmp_path)!r}, 'stage', 'smoke', period=0.1):\n"
        "    print('up', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "up"
    running = tmp_path / "stage.running.json"
    deadline = time.monotonic() + 30
    while json.loads(running.read_text())["running_s"] < 0.3:  # a few heartbeats
        assert time.monotonic() < deadline, "no heartbeat"
        time.sleep(0.1)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not (tmp_path / "stage.jsonl").exists()  # it never got to write its line
    with StageClock(tmp_path, "stage", "smoke", period=1000.0):
        pass
    killed, done = stage_times.read(tmp_path)
    assert killed["ok"] is None and killed["running_s"] >= 0.3
    assert done["ok"] is True


def test_summary_separates_profiles_and_the_report_prints_the_total(tmp_path, capsys):
    runs = [
        {"stage": "a", "profile": "default", "ok": True, "running_s": 1800.0},
        {"stage": "b", "profile": "default", "ok": None, "running_s": 3600.0},
        {"stage": "b", "profile": "default", "ok": True, "running_s": 1800.0},
        {"stage": "a", "profile": "smoke", "ok": True, "running_s": 12.0},
    ]
    (tmp_path / "all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    rows = stage_times.summary(stage_times.read(tmp_path), "default")
    assert [(r["stage"], r["runs"], r["running_s"]) for r in rows] == [
        ("a", 1, 1800.0),
        ("b", 2, 5400.0),
    ]
    stage_times.main(["--root", str(tmp_path), "--profile", "default"])
    out = capsys.readouterr().out
    assert "total (one stage at a time)" in out and "2.00 h" in out
    assert "1 killed" in out


def _run(stage, started, ended, running_s, profile="default"):
    return {
        "stage": stage,
        "profile": profile,
        "ok": True,
        "running_s": running_s,
        "started": started,
        "ended": ended,
    }


def test_wall_clock_counts_stages_that_ran_side_by_side_once(tmp_path, capsys):
    runs = [
        _run("a", "2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z", 3600.0),
        _run("b", "2026-11-27T10:30:00Z", "2026-11-27T11:30:00Z", 3600.0),  # beside a
        _run("c", "2026-11-27T10:40:00Z", "2026-11-27T10:50:00Z", 600.0),  # inside both
        _run("d", "2026-11-27T12:00:00Z", "2026-11-27T12:30:00Z", 1800.0),  # after a gap
        _run("e", "2026-11-27T09:00:00Z", "2026-11-27T15:00:00Z", 9.0, profile="smoke"),
    ]
    assert stage_times.wall_s(runs, "default") == 2 * 3600.0
    assert stage_times.wall_s(runs, "smoke") == 6 * 3600.0
    (tmp_path / "all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    stage_times.main(["--root", str(tmp_path), "--profile", "default"])
    out = capsys.readouterr().out
    assert "total (one stage at a time)" in out and "2.67 h" in out
    assert "wall clock (any stage running)" in out and "2.00 h" in out


def _outcome(stage, ok, running_s):
    return {"stage": stage, "profile": "default", "ok": ok, "running_s": running_s}


def test_the_last_build_counts_a_stage_rebuilt_from_scratch_once(tmp_path, capsys):
    runs = [
        _outcome("demos", True, 5400.0),  # an earlier build, superseded by the rebuild below
        _outcome("demos", None, 1200.0),  # the rebuild: killed, then resumed and finished
        _outcome("demos", True, 3000.0),
        _outcome("sft", True, 1800.0),
        _outcome("sft", False, 600.0),  # a rebuild in progress: failed, then killed
        _outcome("sft", None, 300.0),
        _outcome("eval", None, 120.0),  # never finished yet
    ]
    build = stage_times.last_builds(runs, "default")
    assert [(r["stage"], r["running_s"]) for r in build] == [
        ("demos", 1200.0),
        ("demos", 3000.0),
        ("sft", 600.0),
        ("sft", 300.0),
        ("eval", 120.0),
    ]
    rows = {r["stage"]: r for r in stage_times.summary(runs, "default")}
    assert rows["demos"]["build_s"] == 4200.0 and rows["demos"]["running_s"] == 9600.0
    assert rows["sft"]["build_s"] == 900.0 and rows["sft"]["running_s"] == 2700.0
    assert rows["eval"]["build_s"] == 120.0
    (tmp_path / "all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    stage_times.main(["--root", str(tmp_path), "--profile", "default"])
    total = next(line for line in capsys.readouterr().out.splitlines() if "total" in line)
    assert total.split()[-4:] == ["1.45", "h", "3.45", "h"]  # last builds 5220 s, all 12420 s
