"""``python -m ptrim.repro``: which stages wait for which (from dvc.yaml), and the scheduler
(order, concurrency, the lock-race retry, failures) with a stand-in ``dvc``."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from ptrim import repro

ROOT = Path(__file__).resolve().parent.parent


def test_an_output_feeds_a_dependency_on_it_inside_it_or_around_it():
    assert repro._produces("data/sft/oft", "data/sft/oft")
    assert repro._produces("data/sft/oft/", "data/sft/oft/final/model.safetensors")
    assert repro._produces("paper_figures/profile/oft-x", "paper_figures/profile")
    assert not repro._produces("data/sft/oft", "data/sft/oft_h16")


def test_upstream_follows_dvc_yaml():
    names = ["demos@libero_object", "sft@oft-libero_object", "profile@oft-libero_object",
             "stage1@oft-libero_object", "envcheck", "figures"]  # fmt: skip
    up = repro.upstream(names, ROOT)
    assert up["sft@oft-libero_object"] == {"demos@libero_object"}
    assert up["stage1@oft-libero_object"] == {"sft@oft-libero_object", "profile@oft-libero_object"}
    assert up["envcheck"] == set() and up["demos@libero_object"] == set()
    assert "stage1@oft-libero_object" in up["figures"]
    with pytest.raises(SystemExit, match="no such stages"):
        repro.upstream(["sft@nobody-libero_object"], ROOT)


FAKE_DVC = """#!{python}
# stand-in for `dvc repro --single-item NAME`: logs start/end, fails once with DVC's lock
# error for names starting with "racy", always for names starting with "bad"
import os, sys, time
from pathlib import Path
name = sys.argv[3]
trace = Path({trace!r})
if name.startswith("racy") and not (trace.parent / ("raced-" + name)).exists():
    (trace.parent / ("raced-" + name)).write_text("")
    print("ERROR: Unable to acquire lock. Most likely another DVC process is running")
    sys.exit(1)
with trace.open("a") as f:
    f.write(f"start {{name}}\\n")
(trace.parent / ("threads-" + name)).write_text(
    os.environ.get("OMP_NUM_THREADS", "-") + " " + os.environ.get("LP_NUM_THREADS", "-"))
time.sleep(0.3)
with trace.open("a") as f:
    f.write(f"end {{name}}\\n")
sys.exit(2 if name.startswith("bad") else 0)
"""


@pytest.fixture
def fake_dvc(tmp_path):
    trace = tmp_path / "trace.txt"
    exe = tmp_path / "dvc"
    exe.write_text(FAKE_DVC.format(python=sys.executable, trace=str(trace)))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return str(exe), trace


def events(trace: Path) -> list[str]:
    return trace.read_text().split("\n")[:-1]


def test_stages_start_after_their_inputs_two_at_a_time_and_lock_races_retry(tmp_path, fake_dvc):
    dvc, trace = fake_dvc
    names = ["a", "racy_b", "c", "d"]
    needs = {"a": set(), "racy_b": set(), "c": {"a"}, "d": {"c", "racy_b"}}
    seconds = repro.run(names, needs, jobs=2, log_dir=tmp_path / "logs", dvc=dvc)
    assert set(seconds) == set(names)
    ev = events(trace)
    for stage, inputs in needs.items():
        for i in inputs:
            assert ev.index(f"end {i}") < ev.index(f"start {stage}"), (stage, i)
    assert (tmp_path / "raced-racy_b").exists() and ev.count("start racy_b") == 1  # retried
    running, most = 0, 0
    for e in ev:
        running += 1 if e.startswith("start") else -1
        most = max(most, running)
    assert most == 2
    assert (tmp_path / "logs" / "racy_b.log").is_file()


def test_one_job_runs_stages_one_after_another(tmp_path, fake_dvc):
    dvc, trace = fake_dvc
    repro.run(["a", "b"], {"a": set(), "b": set()}, jobs=1, log_dir=tmp_path / "logs", dvc=dvc)
    assert events(trace) == ["start a", "end a", "start b", "end b"]


def test_a_failed_stage_stops_what_depends_on_it_and_is_named(tmp_path, fake_dvc):
    dvc, trace = fake_dvc
    needs = {"bad_a": set(), "c": {"bad_a"}, "d": {"c"}, "b": set(), "e": {"b"}}
    with pytest.raises(SystemExit, match="stage bad_a failed") as err:
        repro.run(["bad_a", "c", "d", "b", "e"], needs, jobs=1, log_dir=tmp_path / "logs", dvc=dvc)
    ev = events(trace)
    assert "start c" not in ev and "start d" not in ev  # directly and indirectly downstream
    assert ev[-2:] == ["start e", "end e"]  # the independent branch still ran to its end
    assert "['c', 'd']" in str(err.value)


def test_parallel_stages_get_one_torch_and_one_renderer_thread(tmp_path, fake_dvc, monkeypatch):
    dvc, trace = fake_dvc
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LP_NUM_THREADS", raising=False)
    repro.run(["a"], {"a": set()}, jobs=1, log_dir=tmp_path / "l1", dvc=dvc)
    assert (tmp_path / "threads-a").read_text() == "- -"  # one at a time: libraries decide
    repro.run(["b"], {"b": set()}, jobs=2, log_dir=tmp_path / "l2", dvc=dvc)
    assert (tmp_path / "threads-b").read_text() == "1 1"
