"""The hand-over between profiling, stage 1 and stage 2."""

import json
from pathlib import Path

import pytest

from ptrim import config, handover


def _profile(tmp_path, rows, reliable=10, **extra):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"sweep": rows, "reliable_exec_len": reliable, **extra}))
    return path


def test_baseline_reads_the_base_h_row_and_the_reliable_h(tmp_path):
    cfg = config.load("default")  # pi05: base h = 5
    rows = [
        {"h": 3, "success_rate": 0.9},
        {"h": 5, "success_rate": 0.8},
        {"h": 10, "success_rate": 0.7},
    ]
    base = handover.baseline(cfg, "pi05", _profile(tmp_path, rows, reliable=10))
    assert base == {"exec_len": 5, "success_rate": 0.8, "reliable_exec_len": 10}


def test_baseline_errors_name_the_file_and_the_problem(tmp_path):
    cfg = config.load("default")
    with pytest.raises(FileNotFoundError, match="profile stage"):
        handover.baseline(cfg, "pi05", tmp_path / "missing.json")
    no_base = _profile(tmp_path, [{"h": 4, "success_rate": 0.9}])
    with pytest.raises(ValueError, match=r"base h = 5 \(\[4\]\)"):
        handover.baseline(cfg, "pi05", no_base)
    (tmp_path / "s.json").write_text(json.dumps({"skipped": "not trained"}))
    with pytest.raises(ValueError, match="not trained"):
        handover.baseline(cfg, "pi05", tmp_path / "s.json")


def test_stage_ablation_switch_and_per_model_stages():
    cfg = config.load("default", ["rl.stages=[stage2]"])
    assert "ablation" in handover.skip_stage(cfg, "stage1", "pi05")
    assert handover.skip_stage(cfg, "stage2", "pi05") is None
    cfg = config.load("default")  # OpenVLA (one action per call) runs stage 2 only
    assert cfg.stages_of("openvla") == ("stage2",) and cfg.stages_of("pi05") == ("stage1", "stage2")
    assert "rl.model_stages.openvla" in handover.skip_stage(cfg, "stage1", "openvla")
    assert handover.skip_stage(cfg, "stage2", "openvla") is None
    assert handover.skip_stage(cfg, "stage1", "gr00t") is None


def test_stage1_inputs_read_the_baseline_unless_the_model_is_untrained(tmp_path):
    rows = [{"h": 5, "success_rate": 0.8}, {"h": 10, "success_rate": 0.75}]
    path = _profile(tmp_path, rows, reliable=10)
    base = {"exec_len": 5, "success_rate": 0.8, "reliable_exec_len": 10}
    assert handover.stage1_inputs(config.load("default"), "pi05", "libero_object", path) == (
        None,
        base,
    )
    ablated = config.load("default", ["rl.stages=[stage2]"])
    why, got = handover.stage1_inputs(ablated, "pi05", "libero_object", path)
    assert "ablation" in why and got == base  # stage 2 still needs the base h
    why, got = handover.stage1_inputs(config.load("default"), "pi05", "libero_10", "missing.json")
    assert "libero.suites" in why and got is None  # untrained: no profile file is read


def test_stage2_starts_from_stage1_or_from_bc_when_stage1_is_ablated(tmp_path):
    base = {"exec_len": 5, "success_rate": 0.8, "reliable_exec_len": 10}
    ran = {"horizon": 15}
    assert handover.stage2_start(ran, "sft", "s1") == (tmp_path.__class__("s1/final"), 15)
    ablated = handover.skipped("stage1 off", base)
    start, h = handover.stage2_start(ablated, "sft", "s1")
    assert (str(start), h) == ("sft/final", 5)
    with pytest.raises(ValueError, match="no horizon"):
        handover.stage2_start({"skipped": "x", "horizon": None}, "sft", "s1")


def test_summaries_carry_the_horizon_and_the_last_iteration():
    history = [{"iteration": 1, "wall_s": 3.0}, {"iteration": 2, "wall_s": 7.5}]
    result = {
        "horizon": 10,
        "per_horizon_success": {"5": 1.0, "10": 0.9},
        "tolerance": 0.05,
        "frontier_history": [],
        "iteration": 2,
        "finished": True,
        "history": history,
    }
    s1 = handover.stage1_summary(result, {"exec_len": 5})
    assert s1["horizon"] == 10 and s1["wall_s"] == 7.5 and s1["last"]["iteration"] == 2
    s2 = handover.stage2_summary(result | {"horizon": 10}, 10, "s1/final")
    assert s2["horizon"] == 10 and s2["start"] == "s1/final" and s2["iterations"] == 2


def test_main_runs_pair_each_run_directory_with_its_metrics(tmp_path):
    (tmp_path / "s1.json").write_text(json.dumps({"horizon": 15}))
    (tmp_path / "s2.json").write_text(json.dumps({"skipped": "ablation", "horizon": 5}))
    runs = handover.main_runs(tmp_path / "rl1", tmp_path / "s1.json", "rl2", tmp_path / "s2.json")
    assert runs == {
        "stage1": (tmp_path / "rl1", {"horizon": 15}),
        "policytrim": (Path("rl2"), {"skipped": "ablation", "horizon": 5}),
    }
