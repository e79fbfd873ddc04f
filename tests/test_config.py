import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from ptrim import config
from ptrim.config import ConfigError

PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"


def load(*overrides, profile="default"):
    return config.load(profile, list(overrides), PARAMS)


def error_of(*overrides, profile="default") -> str:
    with pytest.raises(ConfigError) as err:
        load(*overrides, profile=profile)
    return str(err.value)


# ------------------------------------------------------------------ profiles
def test_every_profile_loads_and_smoke_paper_inherit_from_default():
    d, s, p = (load(profile=n) for n in ("default", "smoke", "paper"))
    assert (d.profile, s.profile, p.profile) == ("default", "smoke", "paper")
    assert s.libero.image_size < d.libero.image_size and s.libero.init_states < d.libero.init_states
    assert s.libero.max_steps == d.libero.max_steps  # not restated in smoke: inherited
    assert s.models["pi05"].preset == "micro" and s.models["pi05"].plan_horizon == 20
    assert p.device == "cuda" and len(p.libero.suites) == 4


def test_the_active_profile_comes_from_the_file(tmp_path):
    raw = yaml.safe_load(PARAMS.read_text())
    raw["profile"] = "smoke"
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    assert config.load(path=f).profile == "smoke"
    assert config.load("paper", path=f).profile == "paper"  # command line wins


def test_unknown_profile_in_file(tmp_path):
    raw = yaml.safe_load(PARAMS.read_text())
    raw["profile"] = "huge"
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"profile = 'huge'.*\['smoke', 'default', 'paper'\]"):
        config.load(path=f)


def test_cli_profile_and_set(capsys):
    config.main(["--profile", "smoke", "--set", "libero.image_size=96", "--params", str(PARAMS)])
    out = capsys.readouterr().out
    assert '"profile": "smoke"' in out and '"image_size": 96' in out
    with pytest.raises(SystemExit, match="libero.image_size = 7"):
        config.main(["--set", "libero.image_size=7", "--params", str(PARAMS)])


def test_task_selection_and_suite_aliases():
    c = load("libero.suites=[spatial, long]", "libero.tasks=[0, 9]")
    assert c.libero.suites == ("libero_spatial", "libero_10")
    names = c.libero.task_list("libero_10")
    assert len(names) == 2 and names[0].startswith("LIVING_ROOM_SCENE2")


# ------------------------------------------------------------------ every kind of bad value
def test_unknown_suite_names_key_value_and_allowed():
    msg = error_of("libero.suites=[libero_object, libero_100]")
    assert "libero.suites = ['libero_object', 'libero_100']" in msg
    assert "libero_spatial, libero_object, libero_goal, libero_10" in msg


def test_unknown_task_index_and_name():
    msg = error_of("libero.tasks=[3, 12]")
    assert "libero.tasks = [3, 12]" in msg and "valid indices 0..9" in msg
    msg = error_of("libero.tasks=[make_tea]")
    assert "unknown task 'make_tea'" in msg
    assert "pick_up_the_alphabet_soup_and_place_it_in_the_basket" in msg


def test_unknown_model_family():
    assert "families ['rt2'] have no entry under models" in error_of("families=[pi05, rt2]")
    msg = error_of("models.rt2={preset: small, plan_horizon: 8, exec_len: 8}")
    assert "models.rt2: not a family name, so it needs `family:`" in msg and "'openvla'" in msg
    msg = error_of("models.x={preset: small, plan_horizon: 8, exec_len: 8, family: rt2}")
    assert "models.x.family = 'rt2'" in msg and "'pi05', 'oft', 'gr00t' or 'openvla'" in msg


def test_model_variants_name_their_family():
    cfg = load("families=[oft, oft_h16]", profile="default")
    assert cfg.family_of("oft_h16") == "oft" and cfg.family_of("oft") == "oft"
    assert (cfg.models["oft_h16"].plan_horizon, cfg.models["oft_h16"].exec_len) == (16, 16)
    assert load(profile="smoke").models["oft_h16"].preset == "micro"


def test_unknown_preset_and_camera():
    assert "'micro', 'small' or 'base'" in error_of("models.oft.preset=huge")
    assert "libero.cameras.0 = 'top'" in error_of("libero.cameras=[top]")


def test_visual_meshes_choice():
    assert load().libero.visual_meshes == "lowpoly"  # CPUs render decimated visual meshes
    assert load(profile="paper").libero.visual_meshes == "full"
    msg = error_of("libero.visual_meshes=lowres")
    assert "libero.visual_meshes = 'lowres'" in msg and "'full' or 'lowpoly'" in msg


@pytest.mark.parametrize(
    "override, key, bound",
    [
        ("seed=-1", "seed = -1", "greater than or equal to 0"),
        ("libero.init_states=0", "libero.init_states = 0", "greater than or equal to 1"),
        ("libero.init_states=51", "libero.init_states = 51", "less than or equal to 50"),
        ("libero.image_size=-64", "libero.image_size = -64", "greater than or equal to 16"),
        ("rollout.num_envs=0", "rollout.num_envs = 0", "greater than or equal to 1"),
        (
            "models.gr00t.plan_horizon=-5",
            "models.gr00t.plan_horizon = -5",
            "greater than or equal to 1",
        ),
        ("libero.control_hz=0", "libero.control_hz = 0", "greater than 0"),
        ("envcheck.steps=0", "envcheck.steps = 0", "greater than or equal to 1"),
        ("bc.steps=0", "bc.steps = 0", "greater than or equal to 1"),
        ("bc.batch_size=0", "bc.batch_size = 0", "greater than or equal to 1"),
        ("bc.lr=0", "bc.lr = 0", "greater than 0"),
        ("bc.weight_decay=-0.1", "bc.weight_decay = -0.1", "greater than or equal to 0"),
        ("bc.warmup_steps=-1", "bc.warmup_steps = -1", "greater than or equal to 0"),
        ("bc.min_lr_ratio=1.5", "bc.min_lr_ratio = 1.5", "less than or equal to 1"),
        ("bc.grad_clip=0", "bc.grad_clip = 0", "greater than 0"),
        ("bc.checkpoint_every=0", "bc.checkpoint_every = 0", "greater than or equal to 1"),
        ("bc.log_every=0", "bc.log_every = 0", "greater than or equal to 1"),
        ("bc.num_workers=-1", "bc.num_workers = -1", "greater than or equal to 0"),
        ("bc.demos_per_task=0", "bc.demos_per_task = 0", "greater than or equal to 1"),
        ("bc.demos_per_task=51", "bc.demos_per_task = 51", "less than or equal to 50"),
        ("bc.eval_init_states=0", "bc.eval_init_states = 0", "greater than or equal to 1"),
        ("bc.eval_init_states=51", "bc.eval_init_states = 51", "less than or equal to 50"),
    ],
)
def test_negative_and_out_of_range_numbers(override, key, bound):
    msg = error_of(override)
    assert key in msg and bound in msg


def test_negative_step_limit():
    msg = error_of("libero.max_steps.libero_goal=-3")
    assert "libero.max_steps" in msg and "positive" in msg and "-3" in msg


def test_step_limit_required_for_every_suite(tmp_path):
    raw = yaml.safe_load(PARAMS.read_text())
    del raw["default"]["libero"]["max_steps"]["libero_10"]
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"missing \['libero_10'\]"):
        config.load("default", path=f)


def test_execution_length_longer_than_plan_horizon():
    msg = error_of("models.oft.exec_len=9")
    assert "models.oft.exec_len = 9" in msg and "plan_horizon (H = 8)" in msg
    msg = error_of("models.pi05.plan_horizon=4")  # h = 5 from the file, now longer than H
    assert "models.pi05.exec_len = 5" in msg and "H = 4" in msg


def test_bc_section_in_every_profile():
    d, s, p = (load(profile=n).bc for n in ("default", "smoke", "paper"))
    assert (d.steps, d.batch_size, d.precision, d.num_workers) == (4000, 32, "fp32", 0)
    assert s.steps < d.steps and s.checkpoint_every < s.steps and s.lr == d.lr  # inherited
    assert p.steps > d.steps and p.precision == "bf16" and p.min_lr_ratio == d.min_lr_ratio


def test_bc_warmup_must_be_shorter_than_training():
    msg = error_of("bc.warmup_steps=4000")
    assert "bc.warmup_steps = 4000" in msg and "must be < steps (steps = 4000)" in msg
    msg = error_of("bc.steps=100")  # warm-up 200 from the file is now too long
    assert "bc.warmup_steps = 200" in msg and "steps = 100" in msg


def test_bc_precision_and_demo_count():
    assert "bc.precision = 'fp16'" in error_of("bc.precision=fp16")
    assert "'fp32' or 'bf16'" in error_of("bc.precision=fp16")
    msg = error_of("bc.demos_per_task=3", profile="smoke")  # smoke records 2 per task
    assert "bc.demos_per_task = 3: must be <= demos.per_task (= 2)" in msg
    assert "{" not in msg  # a cross-section check does not dump the whole config


def test_wrong_type():
    msg = error_of("libero.image_size=big")
    assert "libero.image_size = 'big'" in msg and "valid integer" in msg


def test_unknown_and_missing_keys(tmp_path):
    msg = error_of("rollout.wrkrs=2")
    assert re.search(
        r"rollout\.wrkrs: unknown key; allowed keys: "
        r"\['num_envs', 'workers', 'max_steps', 'backend', 'ray'\]",
        msg,
    )
    msg = error_of("bc.lr_max=1")
    assert "bc.lr_max: unknown key" in msg and "'warmup_steps'" in msg and "'num_workers'" in msg
    msg = error_of("models.oft.chunk=3")
    assert "models.oft.chunk: unknown key" in msg and "'plan_horizon'" in msg
    raw = yaml.safe_load(PARAMS.read_text())
    del raw["default"]["rollout"]["workers"]
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"rollout\.workers: missing"):
        config.load("default", path=f)


def test_families_need_model_settings(tmp_path):
    raw = yaml.safe_load(PARAMS.read_text())
    del raw["default"]["models"]["gr00t"]
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"families \['gr00t'\] have no entry under models"):
        config.load("default", path=f)


def test_errors_are_reported_all_at_once():
    msg = error_of("seed=-1", "libero.image_size=1", "rollout.workers=threads")
    assert msg.count("\n  ") == 3


def test_malformed_override():
    with pytest.raises(ConfigError, match="key.sub=value"):
        load("libero.image_size")


def test_config_is_frozen():
    c = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.libero.image_size = 3


# ------------------------------------------------------------------ rl (params.yaml may omit it)
def test_rl_defaults_are_the_papers_but_the_object_step_budget_steps_per_iteration_and_oft_s1():
    rl = load().rl
    # the file spells out the defaults, adds the paper's per-model stage-1 ladders, raises
    # LIBERO-Object's step budget above our base policies' steps (the paper's is 150) and takes
    # 8 optimizer steps per iteration instead of one (README: one moved the policy too little)
    assert rl.stage1.ladders == {"gr00t": (5, 10, 15), "oft": (8,), "oft_h16": (8, 12, 16)}
    assert config.RLConfig().stage1.ladders == {}
    assert rl.stage2.T_max["libero_object"] == 210
    assert config.RLConfig().stage2.T_max["libero_object"] == 150
    assert (rl.epochs, rl.minibatches) == (2, 4)
    assert (config.RLConfig().epochs, config.RLConfig().minibatches) == (1, 1)
    # and skips stage 1 for OFT, whose chunk H = 8 is already executed whole (no chunk to extend)
    assert rl.model_stages == {"openvla": ("stage2",), "oft": ("stage2",)}
    papers = dataclasses.replace(
        rl,
        model_stages={"openvla": ("stage2",)},
        epochs=1,
        minibatches=1,
        stage1=dataclasses.replace(rl.stage1, ladders={}),
        stage2=dataclasses.replace(rl.stage2, T_max={**rl.stage2.T_max, "libero_object": 150}),
    )
    assert papers == config.RLConfig()
    assert (rl.group_size, rl.filter_low, rl.filter_high, rl.dual_clip, rl.kl_coef) == (
        8, 0.1, 1.0, 3.0, 0.0
    )  # fmt: skip
    assert rl.lr == {"pi05": 5e-6, "oft": 2e-5, "gr00t": 5e-6, "openvla": 2e-5}
    assert rl.clip_high["oft"] == 0.28 and rl.clip_high["pi05"] == 0.2 and rl.betas == (0.9, 0.95)
    assert rl.stage1.h_base == {"pi05": 20, "oft": 8, "gr00t": 10, "openvla": 1}
    assert rl.stage2.T_max == {
        "libero_spatial": 150, "libero_object": 210, "libero_goal": 200, "libero_10": 300,
        "metaworld_mt10": 100, "metaworld_mt50": 100, "maniskill": 80,
    }  # fmt: skip
    assert (rl.stage2.lam_eff, rl.stage2.lam_stab, rl.stage2.sigma_floor) == (0.9, 0.15, 5.0)
    assert rl.stages == ("stage1", "stage2") and not rl.stage2.shortcut_check


def test_rl_maps_given_in_part_keep_the_other_entries():
    rl = load("rl.lr.oft=1e-5", "rl.stage2.T_max={long: 400}", "rl.stages=[stage2]").rl
    assert rl.lr["oft"] == 1e-5 and rl.lr["pi05"] == 5e-6
    assert rl.stage2.T_max["libero_10"] == 400 and rl.stage2.T_max["libero_goal"] == 200
    assert rl.stages == ("stage2",)


def test_bad_rl_values_name_key_value_and_allowed():
    assert "rl.group_size = 1: Input should be greater than or equal to 2" in error_of(
        "rl.group_size=1"
    )
    msg = error_of("rl.stage1.curriculum=linear")
    assert "rl.stage1.curriculum = 'linear'" in msg and "'pattern' or 'frontier'" in msg
    msg = error_of("rl.lr.pi0=1e-5")
    assert "'pi0'" in msg and "'pi05', 'oft', 'gr00t' or 'openvla'" in msg
    msg = error_of("rl.filter_low=0.6", "rl.filter_high=0.5")
    assert "rl.filter_high = 0.5: filter_high must be >= filter_low (= 0.6)" in msg
    assert "rl.stages = ['stage1', 'stage1']" in error_of("rl.stages=[stage1, stage1]")
    msg = error_of("rl.stage2.T_max={moon: 10}")
    assert "unknown suite 'moon'" in msg and "metaworld_mt10" in msg
    msg = error_of("rl.stage2.lamb_eff=1")
    assert "rl.stage2.lamb_eff: unknown key" in msg and "'lam_eff'" in msg
    msg = error_of("rl.model_stages={openvla: [stage3]}")
    assert "rl.model_stages.openvla.0 = 'stage3'" in msg and "'stage1' or 'stage2'" in msg
    msg = error_of("rl.model_stages={pi0: [stage2]}")
    assert "rl.model_stages names ['pi0']" in msg and "'pi05'" in msg


def test_profiles_change_default_and_must_be_listed(tmp_path):
    raw = yaml.safe_load(PARAMS.read_text())
    assert raw["profiles"]["default"] == {}  # the default profile is `default` itself
    del raw["profiles"]["paper"]
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"profile 'paper' is not defined under 'profiles'"):
        config.load("paper", path=f)
    del raw["default"]
    f.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"needs a top-level 'default' mapping"):
        config.load("default", path=f)


def test_bc_steps_per_model_and_profiles_that_reset_it():
    cfg = load()
    assert cfg.bc_of("gr00t").steps == cfg.models["gr00t"].bc_steps == 6000
    assert cfg.bc_of("oft") == cfg.bc  # the others train for bc.steps
    assert cfg.bc_of("gr00t").lr == cfg.bc.lr
    assert cfg.bc_of("openvla").steps == 6000 and cfg.models["openvla"].proprio_token
    for other in ("smoke", "paper"):  # a default model's own bc_steps must not leak into them
        prof = config.load(other)
        assert {prof.bc_of(m).steps for m in prof.models} == {prof.bc.steps}, other
    assert "models.oft.bc_steps = 200: must be > bc.warmup_steps (= 200)" in error_of(
        "models.oft.bc_steps=200"
    )
    assert cfg.bc_of("openvla").skip_events == ("hesitation", "regrasp") != cfg.bc.skip_events
    assert cfg.bc_of("pi05").skip_events == cfg.bc.skip_events == ("hesitation",)
    bad = error_of("models.openvla.skip_events=[pause]")
    assert "models.openvla.skip_events.0 = 'pause'" in bad
    assert cfg.models["oft"].label_sigma == 0.0
    assert "models.oft.label_sigma = 2.0: only the openvla family" in error_of(
        "models.oft.label_sigma=2.0"
    )
    assert "label_sigma" in error_of("models.openvla.label_sigma=-1")
    assert "models.pi05.proprio_token = true: only the openvla family" in error_of(
        "models.pi05.proprio_token=true"
    )


def test_rollout_backend_and_ray_section():
    cfg = config.load("default", path=PARAMS)
    assert cfg.rollout.backend == "local"
    assert (cfg.rollout.ray.address, cfg.rollout.ray.num_workers) == (None, 2)
    ray = config.load("smoke", ["rollout.backend=ray", "rollout.ray.address=auto"], PARAMS)
    assert ray.rollout.backend == "ray" and ray.rollout.ray.address == "auto"
    msg = error_of("rollout.backend=dask")
    assert "rollout.backend = 'dask'" in msg and "'local' or 'ray'" in msg
    msg = error_of("rollout.ray.num_workers=0")
    assert "rollout.ray.num_workers = 0" in msg and "greater than or equal to 1" in msg
    msg = error_of("rollout.ray.envs_per_worker=-2")
    assert "rollout.ray.envs_per_worker = -2" in msg
    msg = error_of("rollout.ray.nodes=3")
    assert "rollout.ray.nodes: unknown key" in msg and "'envs_per_worker'" in msg


@pytest.mark.parametrize("section", ["libero", "metaworld", "maniskill"])
def test_every_benchmark_section_refuses_a_camera_twice_and_an_unknown_task(section):
    suites = {"libero": [], "metaworld": ["metaworld.suites=[metaworld_mt10]"],
              "maniskill": ["maniskill.suites=[maniskill]"]}[section]  # fmt: skip
    msg = error_of(*suites, f"{section}.cameras=[wrist, wrist]")
    assert f"{section}.cameras" in msg and "cameras listed twice" in msg
    msg = error_of(*suites, f"{section}.tasks=[no_such_task]")
    assert f"{section}.tasks" in msg and "no_such_task" in msg
