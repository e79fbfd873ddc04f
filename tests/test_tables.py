"""The paper's tables from our metrics (ours beside the paper's) and the paper_figures index."""

import json
import math

import numpy as np
import pytest

from ptrim import catalog, evaluate, paper, tables
from ptrim.episode import CallRecord
from tests.fakes import record


def episode(task, init, h, steps, success=True):
    calls = [
        CallRecord(step=s, plan=np.zeros((20, 7)), executed=min(h, steps - s), latency_s=0.03)
        for s in range(0, steps, h)
    ]
    return record(
        task,
        init,
        success,
        steps,
        h=h,
        plan_horizon=20,
        max_steps=280,
        calls=calls if success else calls[:1],
        benchmark="libero",
        suite="libero_object",
        seed=init,
        policy_time_s=0.03 * len(calls),
    )


@pytest.fixture
def result():
    """A paired evaluation of pi05 on LIBERO-Object: the base solves 4 states in 100-130
    steps at h = 5; PolicyTrim solves 3 of them in 60 steps at h = 15 and fails the last."""
    base = [episode("t", i, 5, 100 + 10 * i) for i in range(4)]
    trim = [episode("t", i, 15, 60) for i in range(3)] + [episode("t", 3, 15, 0, success=False)]
    out = evaluate.paired_report({"base": base, "policytrim": trim}, seed=0)
    out["facts"] = {"family": "pi05", "suite": "libero_object", "parameters": 4_590_000}
    return json.loads(json.dumps(out))  # as read back from the committed file


def test_our_rows_hold_percent_success_steps_h_and_paired_speedup(result):
    base, trim = tables.our_row(result, "base"), tables.our_row(result, "policytrim")
    assert base["SR"] == 100.0 and base["S"] == pytest.approx(115.0) and base["h"] == 5.0
    assert base["Spd"] == base["Spd_lo"] == base["Spd_hi"] == 1.0
    assert trim["SR"] == 75.0 and trim["S"] == 60.0 and trim["h"] == 15.0
    # Spd = (S_b / h_b) / (S_m / h_m) on the shared states: (115 / 5) / (60 / 15)
    assert trim["Spd"] == pytest.approx((115 / 5) / (60 / 15), rel=0.05)
    assert trim["SR_lo"] <= trim["SR"] <= trim["SR_hi"]
    assert (trim["parameters"], trim["episodes"], trim["max_steps"]) == (4_590_000, 4, 280)


def test_table1_puts_the_papers_numbers_beside_ours(result):
    rows = tables.table1_rows({"pi05-libero_object": result}, ["pi05", "oft"], ["libero_object"])
    keyed = {(r["method"], r["model"], r["source"]): r for r in rows}
    assert set(keyed) == {
        (m, model, "paper") for m in ("base", "policytrim") for model in ("pi05", "oft")
    } | {("base", "pi05", "ours"), ("policytrim", "pi05", "ours")}
    assert keyed[("policytrim", "pi05", "paper")] == {
        "suite": "libero_object",
        "method": "policytrim",
        "model": "pi05",
        "source": "paper",
        "SR": 98.5,
        "S": 64.3,
        "h": 15.0,
        "Spd": 5.83,
    }
    frame = tables.layout(rows)
    assert list(frame.columns) == [
        "π0.5 (ours)",
        "π0.5 (paper)",
        "OpenVLA-OFT (paper)",
        "scale (ours)",
    ]
    assert frame.loc[("Object", "base"), "π0.5 (paper)"] == "99.1 / 125.0 / 5 / 1.00"
    assert frame.loc[("Object", "PolicyTrim"), "π0.5 (ours)"].startswith("75.0 / 60.0 / 15 / ")
    assert frame.loc[("Object", "base"), "scale (ours)"] == "pi05 4.6M, 4 ep, ≤280 steps"


def test_a_pair_we_did_not_evaluate_shows_a_dash_and_the_papers_cell(result):
    rows = tables.table1_rows({"pi05-libero_object": result}, ["pi05", "gr00t"], ["libero_goal"])
    assert {r["source"] for r in rows} == {"paper"}
    frame = tables.layout(rows)
    assert frame.loc[("Goal", "base"), "scale (ours)"] == "—"
    nan_row = {"SR": math.nan, "S": None, "h": 5, "Spd": 1.0}
    assert tables._cell(nan_row) == "— / — / 5 / 1.00"


def test_write_table_csv_markdown_latex(result, tmp_path):
    rows = tables.table1_rows({"pi05-libero_object": result}, ["pi05"], ["libero_object"])
    paths = tables.write_table(rows, tmp_path / "table1_libero", "LIBERO")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    csv = paths[0].read_text().splitlines()
    assert csv[0].startswith("suite,method,model,source,SR,SR_lo,SR_hi,S,")
    assert len(csv) == 1 + len(rows)
    md = paths[1].read_text()
    header = [c.strip() for c in md.splitlines()[2].split("|")[1:-1]]
    assert header == ["suite", "method", "π0.5 (ours)", "π0.5 (paper)", "scale (ours)"]
    assert "| Object  | PolicyTrim | 75.0 / 60.0 / 15 / " in md, md
    assert "99.1 / 125.0 / 5 / 1.00" in md and "SR (%) / S" in md
    assert "\\begin{table}" in paths[2].read_text() and "tab:table1_libero" in paths[2].read_text()


def test_generality_rows_ours_where_evaluated_and_the_papers_spatial_rows(result):
    rows = tables.generality_rows({"oft_h16-libero_object": result, "pi05-libero_object": result})
    ours = [r for r in rows if r["source"] == "ours"]
    assert {(r["model"], r["suite"], r["method"]) for r in ours} == {
        ("oft_h16", "libero_object", "base"),
        ("oft_h16", "libero_object", "policytrim"),
    }
    published = [r for r in rows if r["source"] == "paper"]
    assert len(published) == 4 and {r["suite"] for r in published} == {"libero_spatial"}
    assert {r["Spd"] for r in published if r["method"] == "policytrim"} == {2.97, 1.41}


def test_load_results_and_histories_skip_what_did_not_run(result, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "pi05-libero_object.json").write_text(json.dumps(result))
    (tmp_path / "m" / "oft-libero_10.json").write_text(json.dumps({"skipped": "not trained"}))
    assert list(tables.load_results(tmp_path / "m")) == ["pi05-libero_object"]
    for pair, history in (("pi05-libero_object", [{"iteration": 1}]), ("oft-libero_10", [])):
        (tmp_path / "rl" / pair).mkdir(parents=True)
        (tmp_path / "rl" / pair / "history.json").write_text(json.dumps(history))
    assert tables.histories(tmp_path / "rl") == {"pi05-libero_object": [{"iteration": 1}]}


def test_table1_models_are_the_papers_three():
    assert tables.table1_models(["openvla", "gr00t", "pi05", "oft_h16", "oft"]) == [
        "gr00t",
        "pi05",
        "oft",
    ]


def test_paper_table1_is_complete():
    from ptrim.envs import registry

    for suite in registry.BENCHMARKS["libero"]:
        for method in tables.METHODS:
            assert set(paper.TABLE1[(suite, method)]) == {"pi05", "oft", "gr00t"}
    assert all(
        v[3] == 1.0 for (_, m), row in paper.TABLE1.items() if m == "base" for v in row.values()
    )


def test_catalog_indexes_every_file_and_flags_undescribed_ones(tmp_path):
    for name in (
        "table1_libero.md",
        "profile/pi05-libero_object/fig1b_exec_length_pi05-libero_object.png",
        "evaluate/oft-libero_object/fig3_keyframes_oft-libero_object.pdf",
        "curves/stage1_pi05-libero_object.png",
        "mystery.png",
        ".hidden",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    text = catalog.readme(tmp_path)
    assert "| `table1_libero.md` | Table 1:" in text
    assert "`profile/pi05-libero_object/fig1b_exec_length_pi05-libero_object.png` | Fig. 1b" in text
    assert "| `mystery.png` | **not described**" in text
    assert "| `README.md` | this index |" in text and ".hidden" not in text
    assert catalog.undescribed(tmp_path) == ["mystery.png"]


def test_the_index_stage_writes_the_readme_of_a_folder(tmp_path, capsys):
    (tmp_path / "curves").mkdir()
    (tmp_path / "curves/stage2_oft-libero_object.png").write_text("x")
    (tmp_path / "mystery.csv").write_text("x")
    catalog.main([str(tmp_path)])
    text = (tmp_path / "README.md").read_text()
    assert "| `curves/stage2_oft-libero_object.png` | RL training curves" in text
    assert "| `mystery.csv` | **not described**" in text
    assert "mystery.csv" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no folder"):
        catalog.main([str(tmp_path / "absent")])


def test_table2_puts_each_benchmarks_paper_numbers_beside_our_suites(result):
    results = {"pi05-metaworld_mt10": result, "oft-maniskill": result}
    models = tables.table2_models(["gr00t", "pi05", "oft"])
    assert models == ["pi05", "oft"]
    rows = tables.table2_rows(results, models, ["metaworld_mt10", "maniskill"])
    keyed = {(r["suite"], r["method"], r["model"], r["source"]) for r in rows}
    assert ("metaworld_mt10", "base", "pi05", "ours") in keyed
    assert ("metaworld_mt10", "policytrim", "pi05", "paper") in keyed
    assert ("metaworld_mt10", "base", "oft", "paper") not in keyed  # the paper has no OFT row
    assert ("maniskill", "policytrim", "oft", "ours") in keyed
    frame = tables.layout(rows)
    assert frame.loc[("ManiSkill3", "base"), "OpenVLA-OFT (paper)"] == "60.6 / 53.1 / 8 / 1.00"
    assert frame.loc[("Meta-World MT10", "PolicyTrim"), "π0.5 (paper)"].endswith("/ 2.52")
    assert "PutOnPlateInScene25" in paper.TABLE2_NOTE


def test_per_task_rows_pair_base_and_policytrim_task_by_task(result):
    results = {"oft-maniskill": result}
    rows = tables.per_task_rows(results, ["pi05", "oft"], ["metaworld_mt10", "maniskill"])
    assert [(r["suite"], r["model"], r["task"]) for r in rows] == [("maniskill", "oft", "t")]
    (row,) = rows
    assert row["SR_base"] == 100.0 and row["SR_policytrim"] == 75.0
    assert row["S_base"] == pytest.approx(115.0) and row["S_policytrim"] == pytest.approx(60.0)
    assert row["n_base"] == row["n_policytrim"] == 4


def test_every_file_committed_in_paper_figures_is_described():
    """What git holds in ``paper_figures/`` (the benchmark's ``scaling.*`` today, the figures
    stage's outputs after a run) all have an entry in the index."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "paper_figures"
    assert (root / "scaling.png").is_file() and (root / "scaling.csv").is_file()
    assert catalog.undescribed(root) == []


def test_step_limit_text_is_per_suite_and_spans_maniskills_per_task_limits():
    from ptrim import config
    from ptrim.envs import maniskill

    cfg = config.load("default")
    libero = cfg.libero.max_steps["libero_object"]
    assert tables.step_limit_text(cfg, "libero_object") == f"≤{libero}"
    assert tables.step_limit_text(cfg, "metaworld_mt10") == f"≤{cfg.metaworld.max_steps}"
    limits = [maniskill.MAX_STEPS[t] for t in cfg.maniskill.task_list("maniskill")]
    assert min(limits) < max(limits)  # the test means something only if the tasks differ
    assert tables.step_limit_text(cfg, "maniskill") == f"≤{min(limits)}–{max(limits)}"
    capped = config.load("default", ["rollout.max_steps=50"])
    assert tables.step_limit_text(capped, "maniskill") == "≤50"
    one = config.load("default", ["maniskill.tasks=[PushCube-v1]"])
    assert tables.step_limit_text(one, "maniskill") == f"≤{maniskill.MAX_STEPS['PushCube-v1']}"


def test_a_suites_limit_text_replaces_the_first_episodes_limit_in_the_scale_column(result):
    results = {"oft-maniskill": result}
    rows = tables.table2_rows(results, ["oft"], ["maniskill"], {"maniskill": "≤80–120"})
    assert {r["max_steps"] for r in rows if r["source"] == "ours"} == {"≤80–120"}
    scale = tables.layout(rows).loc[("ManiSkill3", "base"), "scale (ours)"]
    assert scale == "oft 4.6M, 4 ep, ≤80–120 steps"
    plain = tables.layout(tables.table2_rows(results, ["oft"], ["maniskill"]))
    assert plain.loc[("ManiSkill3", "base"), "scale (ours)"] == "oft 4.6M, 4 ep, ≤280 steps"


def test_pair_status_splits_wanted_pairs_into_evaluated_and_missing(result):
    got = tables.pair_status({"oft-maniskill": result}, ["pi05", "oft"], ["maniskill"])
    assert got == {"evaluated": ["oft-maniskill"], "missing": ["pi05-maniskill"]}


def test_table2_caption_names_the_maniskill_stand_in_tasks():
    from ptrim import config

    cfg = config.load("default", ["maniskill.tasks=[PushCube-v1, PullCube-v1]"])
    caption = tables.table2_caption(cfg)
    assert caption.startswith("ManiSkill3 and Meta-World") and paper.TABLE2_NOTE in caption
    assert caption.endswith("ManiSkill3 tasks here: PushCube-v1, PullCube-v1.")
    off = config.load("default", ["maniskill.suites=[]"])
    assert "tasks here" not in tables.table2_caption(off)


def test_write_per_task_writes_csv_and_a_titled_markdown_table(result, tmp_path):
    rows = tables.per_task_rows({"oft-maniskill": result}, ["oft"], ["maniskill"])
    csv, md = tables.write_per_task(rows, tmp_path / "sub" / "per_task", "Per task")
    assert csv.read_text().splitlines()[0].startswith("suite,model,task,SR_base")
    text = md.read_text()
    assert text.startswith("**Per task**") and "| maniskill | oft" in text and "75.0" in text
    _, empty = tables.write_per_task([], tmp_path / "none", "Nothing")
    assert "(no rows)" in empty.read_text()
