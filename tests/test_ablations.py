"""Ablations: each is the main stage with one setting changed, started from the right weights
at the right horizon; their table."""

import json
from pathlib import Path

import pytest

import ptrim.models
from ptrim import ablations, config, evaluate, handover, tables, trainer
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


def pipeline_layout(root: Path, stage_runs) -> None:
    """The fixture's profiling and stage-1 metrics where the pipeline keeps them."""
    _, paths = stage_runs
    for key, dest in (("profile_metrics", "profile"), ("stage1_metrics", "stage1")):
        (root / "metrics" / dest).mkdir(parents=True, exist_ok=True)
        (root / "metrics" / dest / "pi05-libero_object.json").write_text(paths[key].read_text())


def test_the_cli_trains_one_ablation_where_the_stage_resumes_it(stage_runs, tmp_path, capsys):
    calls, _ = stage_runs
    root = tmp_path / "data"
    pipeline_layout(root, stage_runs)
    ablations.main(
        ["no_stability", "pi05-libero_object", "--data-root", str(root), "--set", "seed=4"]
    )
    [call] = calls
    out_dir = root / "rl/ablations/no_stability/pi05-libero_object"
    assert (
        call["out_dir"] == out_dir == ablations.run_dir(root, "no_stability", "pi05-libero_object")
    )
    assert call["policy"] == f"weights:{root / 'rl/stage1/pi05-libero_object/final'}"
    assert call["horizon"] == 15 and not call["cfg"].rl.stage2.use_stability
    assert call["cfg"].seed == 4 and call["live"] is not None  # logs to <run>/live like the stage
    assert "no_stability pi05-libero_object: iteration 20 (finished)" in capsys.readouterr().out


def test_the_stage_trains_into_the_same_directories_as_the_cli(stage_runs, tmp_path, monkeypatch):
    calls, _ = stage_runs
    root = tmp_path / "data"
    pipeline_layout(root, stage_runs)
    seen = []
    monkeypatch.setattr(evaluate, "paired", lambda variants, *a, **k: seen.extend(variants) or {})
    monkeypatch.setattr(evaluate, "paired_report", lambda *a, **k: {})
    monkeypatch.setattr(handover, "main_runs", lambda *a: {})
    monkeypatch.setattr(handover, "evaluation_variants", lambda *a, **k: [])
    cfg = config.load("default", ["ablation.variants=[no_stability, stage2_only]"])
    ablations.run_pair(cfg, "default", [], "pi05", "libero_object", data_root=root, progress=False)
    assert [c["out_dir"] for c in calls] == [
        ablations.run_dir(root, n, "pi05-libero_object") for n in ("no_stability", "stage2_only")
    ]
    assert [v.name for v in seen] == ["no_stability", "stage2_only"]


def test_the_cli_refuses_an_unknown_ablation_or_pair(capsys):
    with pytest.raises(SystemExit):
        ablations.main(["no_such", "pi05-libero_object"])
    with pytest.raises(SystemExit):
        ablations.main(["frontier", "pi05"])
    assert "MODEL-SUITE" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no ablation 'x'"):
        ablations.train_into("x", "default", [], "pi05", "libero_object")


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
