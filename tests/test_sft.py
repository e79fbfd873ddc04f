import numpy as np
import pytest

from ptrim import config, sft
from ptrim.episode import CallRecord, EpisodeRecord
from ptrim.evaluate import load_episodes, report, save_episodes


def _episode(task: str, init: int, success: bool, steps: int, h: int = 5) -> EpisodeRecord:
    ep = EpisodeRecord(
        benchmark="libero",
        suite="libero_object",
        task=task,
        init_index=init,
        seed=0,
        plan_horizon=20,
        exec_len=h,
        max_steps=280,
        control_hz=20.0,
        success=success,
        success_step=steps if success else None,
        steps=steps if success else 280,
    )
    n_calls = -(-ep.steps // h)
    ep.calls = [
        CallRecord(
            step=i * h,
            plan=np.zeros((20, 7), np.float32),
            executed=min(h, ep.steps - i * h),
            latency_s=0.01,
        )
        for i in range(n_calls)
    ]
    return ep


EPISODES = [
    _episode("soup", 0, True, 100),
    _episode("soup", 1, True, 120),
    _episode("milk", 0, False, 0),
    _episode("milk", 1, True, 150),
]


def test_report_has_the_metric_names_intervals_and_facts():
    out = report(EPISODES, family="oft", preset="micro")
    assert out["success_rate"]["value"] == pytest.approx(0.75)
    assert out["success_rate"]["lo"] <= 0.75 <= out["success_rate"]["hi"]
    assert out["steps"]["value"] == pytest.approx((100 + 120 + 150) / 3)
    assert out["calls"]["value"] == pytest.approx((20 + 24 + 30) / 3)
    assert out["exec_len"]["value"] == pytest.approx(5.0)
    assert out["per_task"]["milk"] == {"success_rate": 0.5, "steps": 150.0, "n": 2}
    assert out["per_task"]["soup"]["success_rate"] == 1.0
    facts = out["facts"]
    assert (facts["plan_horizon"], facts["exec_len"], facts["max_steps"]) == (20, 5, 280)
    assert (facts["episodes"], facts["initial_states"], facts["family"]) == (4, 4, "oft")


def test_episodes_round_trip_through_jsonl(tmp_path):
    path = tmp_path / "eps.jsonl"
    save_episodes(EPISODES, path)
    back = load_episodes(path)
    assert [(e.task, e.success, e.steps, e.n_calls) for e in back] == [
        (e.task, e.success, e.steps, e.n_calls) for e in EPISODES
    ]
    assert report(back)["calls"] == report(EPISODES)["calls"]


def test_profile_decides_what_trains():
    cfg = config.load("default")
    assert sft.skip_reason(cfg, "oft", "libero_object") is None
    assert "libero.suites" in sft.skip_reason(cfg, "oft", "libero_goal")
    smoke = config.load("smoke", ["families=[oft]"])
    assert "families" in sft.skip_reason(smoke, "pi05", "libero_object")


def test_policy_follows_the_profile():
    cfg = config.load("smoke", ["libero.image_size=32", "libero.cameras=[agentview]"])
    policy = sft.build_policy(cfg, "gr00t", "libero_object")
    assert policy.plan_horizon == cfg.models["gr00t"].plan_horizon
    assert policy.spec.cameras == ("agentview",) and policy.spec.image_size == 32
    assert policy.spec.preset == cfg.models["gr00t"].preset
    assert (policy.spec.action_dim, policy.spec.proprio_dim) == (7, 8)
    variant = sft.build_policy(cfg, "oft_h16", "libero_object")  # OFT with the longer chunk
    assert variant.spec.family == "oft" and variant.plan_horizon == 16
    no_state = config.load("smoke", ["libero.image_size=32", "models.openvla.proprio_token=false"])
    assert sft.build_policy(cfg, "openvla", "libero_object").proprio_in is not None
    assert sft.build_policy(no_state, "openvla", "libero_object").proprio_in is None


def test_policy_takes_the_benchmark_of_its_suite():
    cfg = config.load("smoke", ["metaworld.image_size=48", "metaworld.cameras=[wrist]"])
    policy = sft.build_policy(cfg, "oft", "metaworld_mt10", action_dim=4, proprio_dim=4)
    assert policy.spec.cameras == ("wrist",) and policy.spec.image_size == 48
    assert (policy.spec.action_dim, policy.spec.proprio_dim) == (4, 4)


def test_missing_demonstrations_name_the_files(tmp_path):
    cfg = config.load("smoke")
    with pytest.raises(FileNotFoundError, match="run the demos stage"):
        sft.demo_dataset(cfg, "oft", "libero_object", tmp_path)


@pytest.mark.sim
def test_evaluate_runs_every_task_and_state_at_the_requested_h():
    from ptrim.evaluate import evaluate
    from ptrim.models.scripted import ConstantPolicy

    cfg = config.load(
        "smoke",
        ["libero.image_size=32", "libero.max_steps.libero_object=12", "libero.tasks=[0]"],
    )
    hold = np.array([0, 0, 0, 0, 0, 0, -1], np.float32)
    eps = evaluate(
        ConstantPolicy(8, hold),
        cfg,
        "libero_object",
        exec_len=4,
        init_states=[0, 1],
        progress=False,
    )
    assert [(e.init_index, e.exec_len, e.steps, e.n_calls) for e in eps] == [
        (0, 4, 12, 3),
        (1, 4, 12, 3),
    ]
    assert not any(e.success for e in eps)


def test_each_model_cuts_its_own_redundancy_events_from_the_demos(tmp_path):
    """``models.<m>.skip_events`` replaces ``bc.skip_events`` for that model's BC data only
    (default: openvla also drops the regrasps, the chunked families keep them)."""
    from tests.test_data import make_demo, write

    cfg = config.load("default", ["libero.tasks=[0]"])
    [task] = cfg.bench("libero_object").task_list("libero_object")
    demo = make_demo(10, 0)
    demo.events = [
        {"kind": "hesitation", "step": 1, "steps": 2},
        {"kind": "regrasp", "step": 5, "steps": 3},
    ]
    write(tmp_path / f"{task}_demo.hdf5", [demo])
    chunked = sft.demo_dataset(cfg, "oft", "libero_object", tmp_path)
    memoryless = sft.demo_dataset(cfg, "openvla", "libero_object", tmp_path)
    assert (chunked.skipped_steps, len(chunked)) == (2, 8)
    assert (memoryless.skipped_steps, len(memoryless)) == (5, 5)
