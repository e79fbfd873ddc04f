"""Suites of every benchmark: names, benchmarks, task lists, and the profile's sections."""

import pytest

from ptrim import config
from ptrim.envs import registry


def test_suites_map_to_their_benchmark():
    assert registry.benchmark_of("object") == "libero"
    assert registry.canonical_suite("LIBERO_10") == "libero_10"
    assert registry.benchmark_of("metaworld_mt50") == "metaworld"
    assert registry.benchmark_of("maniskill") == "maniskill"
    with pytest.raises(ValueError, match="unknown suite 'mt10'.*metaworld_mt10"):
        registry.benchmark_of("mt10")


def test_task_lists_come_from_each_benchmark():
    assert len(registry.task_names("libero_object")) == 10
    mt10 = registry.task_names("metaworld_mt10")
    assert len(mt10) == 10 and registry.resolve_task("metaworld_mt10", 0) == mt10[0]


def test_profile_sections_per_benchmark():
    cfg = config.load("default")
    assert cfg.bench("libero_object") is cfg.libero and cfg.bench("metaworld_mt10") is cfg.metaworld
    assert cfg.suites() == ("libero_object", "metaworld_mt10", "maniskill")
    assert cfg.metaworld.step_limit("metaworld_mt10") == 100
    assert cfg.libero.step_limit("object") == 280
    assert cfg.untrained_reason("oft", "metaworld_mt10") is None
    assert "metaworld.families" in cfg.untrained_reason("gr00t", "metaworld_mt10")
    assert "metaworld.suites" in cfg.untrained_reason("oft", "metaworld_mt50")
    smoke = config.load("smoke")
    assert smoke.metaworld.task_list("metaworld_mt10") == ("reach-v3",)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("metaworld.suites=[libero_object]", "unknown metaworld suites ['libero_object']"),
        ("metaworld.families=[gr00t, moon]", "metaworld.families ['moon'] are not entries"),
        ("maniskill.cameras=[top]", "maniskill.cameras"),
        ("metaworld.tasks=[pick-place-v2]", "not a metaworld_mt10 task"),
    ],
)
def test_bad_benchmark_values_fail_at_load(override, message):
    with pytest.raises(config.ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load("default", [override])


def test_a_benchmark_may_set_its_own_demo_redundancy():
    from ptrim import demos

    cfg = config.load("default")
    assert demos.demo_redundancy(cfg, "libero_object") == cfg.demos.redundancy == 0.9
    assert demos.demo_redundancy(cfg, "metaworld_mt10") == cfg.metaworld.redundancy == 0.5
    assert demos.demo_redundancy(cfg, "maniskill") == 0.9  # null: demos.redundancy


def test_rollout_max_steps_caps_a_policys_limit_not_the_experts():
    cfg = config.load("default")
    assert registry.step_limit(cfg, "libero_object", 0) == 280
    assert registry.step_limit(cfg, "maniskill", "StackCube-v1") is None  # the adapter's own
    smoke = config.load("smoke")
    assert smoke.rollout.max_steps == 24
    assert registry.step_limit(smoke, "libero_object", 0) == 24
    assert registry.step_limit(smoke, "maniskill", "PushCube-v1") == 24
    capped = config.load("default", ["rollout.max_steps=90"])
    assert registry.step_limit(capped, "maniskill", "PushCube-v1") == 80  # its own is lower
    assert registry.step_limit(capped, "metaworld_mt10", 0) == 90
