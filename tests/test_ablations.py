"""Ablations: each is the main stage with one setting changed, started from the right weights
at the right horizon; their table."""

import json
from pathlib import Path

import pytest

import ptrim.models
from ptrim import ablations, config, evaluate, tables, trainer
from ptrim.evaluate import Variant
from tests.fakes import record


def test_each_ablation_changes_one_setting_of_the_profile():
    base = config.load("default")
    assert set(ablations.ABLATIONS) == {"stage2_only", "no_stability", "frontier"}
    for a in ablations.ABLATIONS.values():
        cfg = config.load("default", list(a.overrides))
        assert cfg.rl.stage1 != base.rl.stage1 or cfg.rl.stage2 != base.rl.stage2 or not a.overrides
    assert not config.load("default", ["rl.stage2.use_stability=false"]).rl.stage2.use_stability
    assert ablations.describe("stage2_only").startswith("stage 2 only")
    assert ablations.describe("policytrim").startswith("stage 1 + 2")


@pytest.fixture
def stage_runs(tmp_path, monkeypatch):
    """Profiling and stage-1 metrics on disk; models.load and the two trainers recorded."""
    (tmp_path / "profile.json").write_text(
        json.dumps(
            {
                "sweep": [{"h": 5, "success_rate": 0.9}, {"h": 10, "success_rate": 0.88}],
                "reliable_exec_len": 10,
            }
        )
    )
    (tmp_path / "stage1.json").write_text(json.dumps({"horizon": 15, "iterations": 20}))
    calls = []
    monkeypatch.setattr(ptrim.models, "load", lambda path, device="cpu": f"weights:{path}")

    def fake_stage(name):
        def run(policy, cfg, suite, out_dir, **kw):
            calls.append({"stage": name, "policy": policy, "cfg": cfg, "out_dir": out_dir, **kw})
            return {"horizon": kw.get("horizon", 12), "iteration": 20, "finished": True}

        return run

    monkeypatch.setattr(trainer, "train_stage1", fake_stage("stage1"))
    monkeypatch.setattr(trainer, "train_stage2", fake_stage("stage2"))
    paths = {
        "sft_dir": tmp_path / "sft",
        "stage1_dir": tmp_path / "s1",
        "stage1_metrics": tmp_path / "stage1.json",
        "profile_metrics": tmp_path / "profile.json",
    }
    return calls, paths


def test_stage2_only_starts_from_bc_at_the_base_h(stage_runs, tmp_path):
    calls, paths = stage_runs
    a = ablations.ABLATIONS["stage2_only"]
    variant, _ = ablations.train(
        a, "default", [], "pi05", "libero_object", **paths, out_dir=tmp_path / "out", progress=False
    )
    [call] = calls
    assert call["stage"] == "stage2" and call["policy"] == f"weights:{tmp_path / 'sft/final'}"
    assert call["horizon"] == 5 and call["cfg"].rl.stage2.use_stability
    assert variant == Variant("stage2_only", tmp_path / "out/final", 5)


def test_no_stability_retrains_stage2_from_stage1_at_its_horizon(stage_runs, tmp_path):
    calls, paths = stage_runs
    a = ablations.ABLATIONS["no_stability"]
    variant, _ = ablations.train(
        a, "default", [], "pi05", "libero_object", **paths, out_dir=tmp_path / "out", progress=False
    )
    [call] = calls
    assert call["policy"] == f"weights:{tmp_path / 's1/final'}" and call["horizon"] == 15
    assert not call["cfg"].rl.stage2.use_stability
    assert variant.exec_len == 15


def test_frontier_runs_stage1_from_the_reliable_h(stage_runs, tmp_path):
    calls, paths = stage_runs
    a = ablations.ABLATIONS["frontier"]
    variant, _ = ablations.train(
        a,
        "default",
        ["seed=3"],
        "pi05",
        "libero_object",
        **paths,
        out_dir=tmp_path / "out",
        progress=False,
    )
    [call] = calls
    assert call["stage"] == "stage1" and call["cfg"].rl.stage1.curriculum == "frontier"
    assert call["cfg"].seed == 3  # the profile's own overrides are kept
    assert (call["start_h"], call["sr_base"]) == (10, 0.9)
    assert variant == Variant("frontier", tmp_path / "out/final", 12)


def test_ablation_table(tmp_path):
    base = [record("t", i, True, 100 + i, h=5) for i in range(3)]
    fast = [record("t", i, True, 60, h=5) for i in range(3)]
    report = evaluate.paired_report({"base": base, "stage2_only": fast}, seed=0)
    report["facts"] = {
        "family": "pi05",
        "suite": "libero_object",
        "variants": [{"name": "base"}, {"name": "stage2_only"}],
    }
    report = json.loads(json.dumps(report))
    rows = tables.ablation_rows({"pi05-libero_object": report})
    assert [r["variant"] for r in rows] == ["base", "stage2_only"]
    assert rows[1]["S"] == 60.0 and rows[1]["description"].startswith("stage 2 only")
    paths = tables.write_ablation_table(rows, tmp_path / "table_ablation")
    md = paths[1].read_text()
    assert "| π0.5    | Object  | stage 2 only" in md and "100.0 / 60.0 / 5 /" in md
    empty = tables.write_ablation_table([], tmp_path / "none")
    assert "no ablation was run" in empty[1].read_text()
    assert Path(empty[0]).exists()
