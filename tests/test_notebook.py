import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from ptrim.notebook import normalize

ROOT = Path(__file__).resolve().parent.parent


def _executed_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-01-01T00:00:00", "duration": 3.2}
    nb.metadata["language_info"] = {"version": "3.11.7"}
    code = nbformat.v4.new_code_cell("print(1)")
    code.execution_count = 7
    code.metadata["papermill"] = {"start_time": "x", "end_time": "y", "duration": 0.1}
    code.metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stderr", text="100%|██| 3/3 [00:01<00:00, 2.9it/s]"),
        nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=7),
    ]
    md = nbformat.v4.new_markdown_cell("# title")
    nb.cells = [md, code]
    return nb


def test_normalize_drops_run_to_run_noise_and_keeps_results():
    nb = normalize(_executed_notebook())
    assert "papermill" not in nb.metadata and "language_info" not in nb.metadata
    md, code = nb.cells
    assert [c.id for c in nb.cells] == ["cell-000", "cell-001"]
    assert code.execution_count is None and code.metadata == {}
    assert [o.get("name", o.output_type) for o in code.outputs] == ["stdout", "execute_result"]
    assert code.outputs[1]["data"]["text/plain"] == "2"
    assert "outputs" not in md
    again = normalize(nbformat.from_dict(json.loads(nbformat.writes(nb))))
    assert nbformat.writes(again) == nbformat.writes(nb)


def test_the_notebook_driver_skips_the_iri_grammar_and_still_validates():
    """``ptrim.notebook`` keeps jsonschema from importing ``rfc3987_syntax`` (seconds of every
    stage's start); notebooks still validate, and an invalid one is still refused."""
    script = (
        "import sys\n"
        "from ptrim import notebook\n"
        "notebook.skip_unused_iri_checker()\n"
        "import nbformat\n"
        "assert sys.modules['rfc3987_syntax'] is None\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1 + 1')])\n"
        "nbformat.validate(nb)\n"
        "nb.cells[0]['cell_type'] = 'nonsense'\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    print('refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "refused"


def test_pipeline_parses_and_wires_every_stage():
    """dvc.yaml is valid for DVC itself (schema errors otherwise surface only in `dvc repro`)
    and each stage waits for the ones whose outputs it reads."""
    dvc = str(Path(sys.executable).parent / "dvc")
    done = subprocess.run([dvc, "dag", "--md"], cwd=ROOT, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr
    import re

    node = dict(re.findall(r'(node\d+)\["([^"]+)"\]', done.stdout))
    edges = {(node[a], node[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", done.stdout)}
    suites = ("libero_object", "libero_spatial", "libero_goal", "libero_10")
    assert {(f"demos@{s}", "experts") for s in suites} <= edges
    assert "envcheck" in node.values()
    models = ("pi05", "oft", "gr00t", "openvla", "oft_h16")
    pairs = [f"{m}-{s}" for m in models for s in suites]
    assert {(f"sft@{p}", f"profile@{p}") for p in pairs} <= edges  # profiling reads the weights
    assert {(f"demos@{s}", f"profile@oft-{s}") for s in suites} <= edges
    assert {(f"profile@{p}", f"stage1@{p}") for p in pairs} <= edges  # base SR, reliable h
    assert {(f"stage1@{p}", f"stage2@{p}") for p in pairs} <= edges  # weights, horizon
    assert {(f"stage2@{p}", f"evaluate@{p}") for p in pairs} <= edges  # the policies compared
    assert {(f"sft@{p}", f"evaluate@{p}") for p in pairs} <= edges
    assert {(f"stage2@{p}", "ablations") for p in pairs} <= edges
    assert {(f"evaluate@{p}", "figures") for p in pairs} <= edges
    assert ("ablations", "figures") not in edges  # Table 1 waits for no ablation
    table2 = [f"{m}-{s}" for m in ("pi05", "oft") for s in ("metaworld_mt10", "maniskill")]
    assert {(f"evaluate@{p}", "table2") for p in table2} <= edges
    assert ("ablations", "table2") not in edges  # Table 2 waits for no LIBERO ablation
    # the index of paper_figures/ comes after every stage that writes there
    writers = {"figures", "table2", "ablations"} | {f"{s}@{p}" for s in ("profile", "evaluate")
                                                    for p in pairs}  # fmt: skip
    assert {(w, "index") for w in writers} <= edges


def test_stage_params_exist_in_every_profile():
    """Every `params` key a stage names exists in params.yaml whichever profile is active
    (DVC refuses to run a stage whose parameter is missing), and the long stages depend on
    sections, not on the whole file."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]

    def lookup(key: str):
        node = params
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"params.yaml has no {key}"
            node = node[part]
        return node

    pairs = next(v["pairs"] for v in yaml.safe_load((ROOT / "dvc.yaml").read_text())["vars"]
                 if "pairs" in v)  # fmt: skip
    for profile in ("default", "smoke", "paper"):
        for stage in stages.values():
            keys = (stage.get("do") or stage).get("params", [])
            for key in keys:
                for item in pairs.values():  # every model x suite the foreach stages expand to
                    lookup(
                        key.replace("${profile}", profile)
                        .replace("${item.bench}", item["bench"])
                        .replace("${item.model}", item["model"])
                    )
    # a model x suite stage reads its own model's entry, not every model's
    assert "default.models.${item.model}" in stages["sft"]["do"]["params"]
    assert "default.models" not in stages["evaluate"]["do"]["params"]
    for name in ("demos", "sft", "profile", "stage1", "stage2", "evaluate", "ablations"):
        stage = stages[name].get("do") or stages[name]
        assert "profiles" not in stage["params"] and "profiles.${profile}" in stage["params"]
        assert "ptrim/config.py" not in stage["deps"]
    assert "default.rl" not in stages["sft"]["do"]["params"]  # RL settings never retrain BC
    assert "default.bc" in stages["sft"]["do"]["params"]
    assert "default.rl" in stages["stage1"]["do"]["params"]
    assert "default.evaluate" not in stages["stage2"]["do"]["params"]  # evaluating never retrains


def _project_copy(tmp_path: Path, profile: str) -> Path:
    """The pipeline's files in ``tmp_path`` with ``profile`` active, as a fresh clone has them."""
    for name in ("dvc.yaml", ".dvcignore", "ptrim", "notebooks"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    (tmp_path / ".dvc").mkdir()
    shutil.copy(ROOT / ".dvc" / "config", tmp_path / ".dvc" / "config")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = profile
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git = ["git", "-c", "user.name=ptrim test", "-c", "user.email=test@ptrim.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    # a clone has commits; dvclive (RL and BC logging) refuses an empty repository
    subprocess.run([*git, "commit", "-q", "-m", "copy"], cwd=tmp_path, check=True)
    return tmp_path


@pytest.mark.sim
@pytest.mark.maniskill
@pytest.mark.slow
@pytest.mark.dag
@pytest.mark.timeout(1800)
def test_smoke_profile_runs_the_whole_dag(tmp_path):
    """The smoke profile from nothing, two stages at a time (`python -m ptrim.repro --jobs 2`):
    every stage the profile trains (`python -m ptrim.pipeline stages`: demos, BC, profiling,
    both RL stages, paired evaluation of every family on LIBERO and of OFT on Meta-World and
    ManiSkill, Table 2, ablations, figures, the index of paper_figures/), then nothing left to
    run. Its wall time is printed (the target, <= 10 min, is read off CI's log, not asserted:
    434-614 s for 38 stages in clean-clone CI runs, 835 s for 39 beside two 1-thread stages)."""
    import time

    project = _project_copy(tmp_path, "smoke")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["PYTHONPATH"] = str(project)  # the copy's ptrim, as in a clone
    dvc = str(Path(sys.executable).parent / "dvc")
    listed = subprocess.run(
        [sys.executable, "-m", "ptrim.pipeline", "stages"],
        cwd=project, env=env, text=True, capture_output=True, check=True,
    ).stdout.split()  # fmt: skip
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ptrim.repro", "--jobs", "2", "--logs", str(tmp_path / "logs")],
        cwd=project, env=env, text=True, capture_output=True,
    )  # fmt: skip
    wall = time.monotonic() - start
    assert done.returncode == 0, f"repro failed:\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    print(done.stdout)
    print(f"smoke DAG: {len(listed)} stages, two at a time, took {wall:.0f} s")

    def stale() -> set[str]:
        """The profile's stages `dvc status` reports changed (one call for the whole project:
        with the 37 stages as targets DVC re-reads dvc.yaml and dvc.lock per target, ~90 s)."""
        status = subprocess.run(
            [dvc, "status", "--json"], cwd=project, env=env, text=True, capture_output=True
        )
        assert status.returncode == 0, status.stderr[-3000:]
        return set(json.loads(status.stdout)) & set(listed)

    assert stale() == set()
    # a parameter change invalidates only the stages that read it (`dvc exp run -S` reruns those)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["default"]["evaluate"]["keyframes"] = 4
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    changed = stale()
    assert changed == {s for s in listed if s.startswith("evaluate@")} | {"ablations"}, changed
    assert {"evaluate@oft-metaworld_mt10", "evaluate@oft-maniskill"} <= changed
    # ... and a model x suite stage reads only its own model's entry of `models`
    params["default"]["models"]["openvla"]["label_sigma"] = 2.0
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    openvla = {s for s in listed if s.endswith("@openvla-libero_object")}
    now_stale = stale()
    assert len(openvla) == 5 and now_stale == changed | openvla, now_stale ^ (changed | openvla)

    families = ("pi05", "oft", "gr00t", "openvla")
    for family in families:
        result = json.loads(
            (project / f"data/metrics/policytrim/{family}-libero_object.json").read_text()
        )
        assert {"base", "policytrim", "compare"} <= set(result), family
        assert result["base"]["facts"]["episodes"] == 1  # 1 task x 1 initial state
        assert "call_speedup" in result["compare"]["policytrim"]
    assert not (project / "data/metrics/policytrim/oft_h16-libero_object.json").exists()
    for suite in ("metaworld_mt10", "maniskill"):  # OFT on the other two benchmarks
        result = json.loads((project / f"data/metrics/policytrim/oft-{suite}.json").read_text())
        assert result["base"]["facts"]["episodes"] == 1  # 1 task x 1 initial state
    table2 = (project / "paper_figures/table2_maniskill_metaworld.md").read_text()
    assert "PutOnPlateInScene25" in table2 and "tasks here: PushCube-v1." in table2
    per_task = (project / "paper_figures/table2_per_task.csv").read_text()
    assert "maniskill,oft,PushCube-v1," in per_task  # smoke: OFT on PushCube only

    # every stage notebook that ran timed itself (ptrim/stage_times.py), under its profile
    from ptrim import stage_times

    ran = {
        path.stem
        for path in (project / "data/notebooks").glob("*.ipynb")
        if not nbformat.read(path, as_version=4).cells[0].source.startswith("Skipped")
    }
    runs = stage_times.read(project / "data/timings")
    timed = {r["stage"] for r in runs if r["ok"] and r["profile"] == "smoke" and r["running_s"] > 0}
    assert len(ran) >= 30 and ran <= timed, sorted(ran - timed)

    # the first stage's record: every LIBERO suite built and timed, its frames drawn, the
    # profile in dvc.lock; forced again, its executed notebook comes out byte for byte the same
    metrics = json.loads((project / "data/metrics/envcheck.json").read_text())
    assert set(metrics["suites"]) >= {"libero_spatial", "libero_object", "libero_goal", "libero_10"}
    assert all(s["sim_steps_per_s"] > 0 for s in metrics["suites"].values())
    nb_path = project / "data/notebooks/00_envcheck.ipynb"
    first = nb_path.read_bytes()
    nb = nbformat.reads(first.decode(), as_version=4)
    assert any(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    ), "the frames figure is missing"
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert lock["stages"]["envcheck"]["params"]["params.yaml"]["profile"] == "smoke"
    forced = subprocess.run(
        [dvc, "repro", "--force", "--single-item", "envcheck"], cwd=project, env=env, text=True,
        capture_output=True,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert nb_path.read_bytes() == first

    ablation = json.loads((project / "data/metrics/ablations/oft-libero_object.json").read_text())
    names = [v["name"] for v in ablation["facts"]["variants"]]
    assert names == ["base", "stage1", "policytrim", "stage2_only", "no_stability", "frontier"]
    assert set(ablation["compare"]) == set(names[1:])

    figures = project / "paper_figures"
    assert "stage 2 only" in (figures / "table_ablation.md").read_text()
    table = (figures / "table1_libero.csv").read_text()
    assert {f"libero_object,policytrim,{f},ours" in table for f in ("pi05", "oft", "gr00t")} == {
        True
    }
    readme = (figures / "README.md").read_text()
    assert "table1_libero.md" in readme and "not described" not in readme
    assert "table2_per_task.csv" in readme and "table2_maniskill_metaworld.png" in readme
    for family in ("pi05", "oft", "gr00t"):
        pair = f"{family}-libero_object"
        assert (figures / f"profile/{pair}/fig1b_exec_length_{pair}.png").exists()
        assert (figures / f"evaluate/{pair}/paired_{pair}.png").exists()
        assert (figures / f"curves/stage2_{pair}.png").exists()


def test_an_untrained_pair_is_recorded_without_a_kernel(tmp_path, monkeypatch):
    """The matrix lists every model x suite; a pair the profile does not train writes what its
    notebook would (skip record, directories, a notebook saying why) and starts no kernel."""
    from ptrim import notebook

    monkeypatch.setattr(notebook, "execute", lambda *a, **k: pytest.fail("a kernel started"))
    out = tmp_path / "nb.ipynb"
    params = [
        ["profile", "default"],
        ["family", "pi05"],
        ["suite", "libero_10"],
        ["metrics_path", str(tmp_path / "m/pi05-libero_10.json")],
        ["out_dir", str(tmp_path / "rl/pi05-libero_10")],
        ["figures_dir", str(tmp_path / "fig/pi05-libero_10")],
        ["stage1_metrics", str(tmp_path / "must-not-be-written.json")],
    ]
    notebook.main(["notebooks/04_stage1.py", str(out), *[x for p in params for x in ("-p", *p)]])
    reason = "suite libero_10 is not in this profile's libero.suites ['libero_object']"
    assert json.loads((tmp_path / "m/pi05-libero_10.json").read_text()) == {"skipped": reason}
    assert (tmp_path / "rl/pi05-libero_10").is_dir()
    assert reason in (tmp_path / "fig/pi05-libero_10/README.md").read_text()
    assert not (tmp_path / "must-not-be-written.json").exists()
    nb = nbformat.read(out, as_version=4)
    assert reason in nb.cells[0].source
    assert (
        notebook.skip_untrained(
            out, {"profile": "default", "family": "oft", "suite": "libero_object"}
        )
        is None
    )
    assert notebook.skip_untrained(out, {"profile": "default"}) is None  # not a model x suite stage
