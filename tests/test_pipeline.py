"""The active profile's stages: every one exists in dvc.yaml and comes after what it reads."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ptrim import config, pipeline

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dag():
    dvc = str(Path(sys.executable).parent / "dvc")
    done = subprocess.run([dvc, "dag", "--md"], cwd=ROOT, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr
    node = dict(re.findall(r'(node\d+)\["([^"]+)"\]', done.stdout))
    edges = {(node[a], node[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", done.stdout)}
    return set(node.values()), edges


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_the_profiles_stages_exist_and_follow_the_dag(profile, dag):
    names, edges = dag
    listed = pipeline.stages(config.load(profile))
    assert len(listed) == len(set(listed)) and set(listed) <= names
    position = {s: i for i, s in enumerate(listed)}
    for a, b in edges:  # every edge between two listed stages points forward
        if a in position and b in position:
            assert position[a] < position[b], (a, b)


def test_default_lists_its_pairs_only():
    listed = pipeline.stages(config.load("default"))
    assert "sft@pi05-libero_object" in listed and "sft@pi05-libero_10" not in listed
    assert "sft@oft_h16-libero_object" not in listed  # not in families
    # OpenVLA runs stage 2 only, but its stage 1 writes the skip record stage 2 starts from
    assert {"stage1@openvla-libero_object", "stage2@openvla-libero_object"} <= set(listed)
    assert listed[:2] == ["envcheck", "demos@libero_object"]
    assert listed[-4:] == ["table2", "ablations", "figures", "index"]
    assert len(pipeline.stages(config.load("paper"))) > len(listed)


def test_default_trains_table2_models_on_metaworld_and_maniskill():
    listed = set(pipeline.stages(config.load("default")))
    assert {"demos@metaworld_mt10", "demos@maniskill"} <= listed
    for model in ("pi05", "oft"):
        assert {f"sft@{model}-metaworld_mt10", f"evaluate@{model}-maniskill"} <= listed
    assert "sft@gr00t-metaworld_mt10" not in listed  # metaworld.families: [pi05, oft]
    assert "demos@metaworld_mt50" not in listed


def test_dvc_yaml_holds_the_generated_suite_and_pair_table():
    import yaml

    from ptrim.envs import registry

    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["vars"]
    cfg = config.load("default")
    table = pipeline.dvc_vars({m: cfg.family_of(m) for m in cfg.models})
    assert {k: v for d in declared for k, v in d.items()} == table
    assert set(table["suites"]) == set(registry.ALL_SUITES)
    assert table["pairs"]["oft-metaworld_mt10"]["env"] == "ptrim/envs/metaworld.py"
    for row in table["suites"].values():  # every file a stage names exists
        for key in ("env", "env_extra", "expert"):
            assert (ROOT / row[key]).is_file(), row[key]
    assert table["pairs"]["oft_h16-libero_object"]["model_code"] == "ptrim/models/oft.py"
    for row in table["pairs"].values():
        assert (ROOT / row["model_code"]).is_file(), row["model_code"]


def test_pair_stages_depend_on_the_shared_model_files_and_their_own_family():
    """Each model x suite stage lists every shared file of ``ptrim/models`` (a new one must be
    added here too) plus its own family's module, never another family's."""
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    families = {f"ptrim/models/{f}.py" for f in ("pi05", "oft", "gr00t", "openvla")}
    not_for_training = {"ptrim/models/scripted.py"}  # the benchmark's constant policy
    shared = (
        {str(p.relative_to(ROOT)) for p in (ROOT / "ptrim/models").glob("*.py")}
        - families
        - not_for_training
    )
    for name in pipeline.PAIR_STAGES:
        deps = set(stages[name]["do"]["deps"])
        listed = {d for d in deps if d.startswith("ptrim/models")}
        assert listed == shared, (name, listed ^ shared)
        assert "${item.model_code}" in deps, name


# ptrim modules a notebook imports that its stage deliberately does not depend on (dvc.yaml's
# header): config only types params.yaml; figures only draws (the profile stage keeps it);
# models is a package whose files the test above checks; sft gives the later stages only
# skip_reason, and its BC code reaches them through the sft stage's outputs.
NOT_DEPENDENCIES = {"config", "figures", "models"}
NOT_DEPENDENCIES_OF = {"stage2": {"sft"}, "evaluate": {"sft"}}


def test_each_stage_depends_on_the_ptrim_modules_its_notebook_imports():
    """A module the notebook calls (e.g. ptrim/latency.py in evaluate) but the stage does not
    list would leave the stage up to date in `dvc status` after that module changed."""
    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    checked = 0
    for name, stage in stages.items():
        body = stage.get("do", stage)
        notebook = re.search(r"notebooks/\S+\.py", body["cmd"])
        if not notebook:
            continue
        source = (ROOT / notebook.group(0)).read_text()
        imported = {
            m.strip()
            for line in re.findall(r"^from ptrim import (.+)$", source, re.M)
            for m in line.split(",")
        }
        deps = {d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])}
        exempt = NOT_DEPENDENCIES | NOT_DEPENDENCIES_OF.get(name, set())
        missing = sorted(m for m in imported - exempt if f"ptrim/{m}.py" not in deps)
        assert not missing, f"stage {name} imports {missing} without depending on them"
        checked += 1
    assert checked >= 9  # envcheck, demos, sft, profile, stage1/2, evaluate, tables, ablations
