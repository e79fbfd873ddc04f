"""Paired evaluation: several policies of one model from the same states with the same seeds,
their report and comparisons, the policies a stage run hands over, and Fig. 3's state."""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest

import ptrim.models
from ptrim import config, evaluate, handover
from ptrim.evaluate import Variant
from tests.fakes import CountingEnv, NoisePolicy, record

SOLVE = {"a": {0: 10, 1: 13, 2: 17}, "b": {0: 21, 1: 6}}  # b from state 2 never succeeds


class LoadedNoise(NoisePolicy):
    def eval(self):
        return self


@pytest.fixture
def fake_world(monkeypatch):
    """Fake tasks a and b, and ``models.load`` giving a noise policy whose H is the number in
    the weights directory's name (``.../h8/final`` -> H = 8)."""
    loaded: list[str] = []

    def load(path, device="cpu"):
        loaded.append(str(path))
        return LoadedNoise(int(Path(path).parent.name[1:]))

    monkeypatch.setattr(ptrim.models, "load", load)
    built: list[str] = []

    def make_env(cfg, suite, task, seed=0):
        built.append(task)
        return CountingEnv(SOLVE[task], 30, task)

    monkeypatch.setattr(evaluate, "make_env", make_env)
    cfg = SimpleNamespace(
        seed=5,
        device="cpu",
        bench=lambda suite: SimpleNamespace(task_list=lambda suite: ["a", "b"], init_states=50),
        rollout=SimpleNamespace(num_envs=1, workers="inline", backend="local"),
        evaluate=SimpleNamespace(init_states=3, keyframes=2),
        rl=SimpleNamespace(max_open_envs=4),
    )
    return SimpleNamespace(cfg=cfg, loaded=loaded, built=built)


VARIANTS = [
    Variant("base", Path("w/h8/final"), 2),
    Variant("stage1", Path("w/h8/final"), 4),
    Variant("policytrim", Path("w/h8/final"), 8),
]


def test_paired_runs_every_policy_from_the_same_states_and_seeds(fake_world):
    by = evaluate.paired(VARIANTS, fake_world.cfg, "fake", progress=False)
    assert list(by) == ["base", "stage1", "policytrim"]
    assert fake_world.loaded == ["w/h8/final"] * 3
    keys = [(e.task, e.init_index, e.seed) for e in by["base"]]
    assert len(keys) == 6 and len({k[2] for k in keys}) == 6
    for v in VARIANTS:
        eps = by[v.name]
        assert [(e.task, e.init_index, e.seed) for e in eps] == keys
        assert all(e.exec_len == v.exec_len for e in eps)
        # the fake solves at fixed steps whatever the policy: calls shrink as h grows
        assert [e.n_calls for e in eps] == [math.ceil(e.steps / v.exec_len) for e in eps]


def test_a_pool_builds_each_tasks_environments_once_for_every_call(fake_world):
    from ptrim import profiling

    cfg, built = fake_world.cfg, fake_world.built
    evaluate.paired(VARIANTS, cfg, "fake", progress=False)
    assert built == ["a", "b"]  # three policies, each task's environment built once
    built.clear()
    fresh = profiling.sweep(
        LoadedNoise(8), cfg, "fake", [2, 4, 8], init_states=2, seed=0, progress=False
    )
    assert built == ["a", "b"] * 3  # no pool: every h builds its own
    built.clear()
    with evaluate.env_pool(cfg, "fake", seed=0) as pool:
        pooled = profiling.sweep(
            LoadedNoise(8), cfg, "fake", [2, 4, 8], init_states=2, seed=0, progress=False, pool=pool
        )
        profiling.repeated_rollouts(
            LoadedNoise(8),
            cfg,
            "fake",
            exec_len=2,
            init_states=1,
            repeats=2,
            seed=0,
            progress=False,
            pool=pool,
        )
    assert built == ["a", "b"]
    for h in (2, 4, 8):  # reused environments give the same episodes
        assert [(e.steps, e.success, e.n_calls) for e in pooled[h]] == [
            (e.steps, e.success, e.n_calls) for e in fresh[h]
        ]
    cfg2 = SimpleNamespace(
        **{**vars(cfg), "rollout": SimpleNamespace(num_envs=2, workers="inline")}
    )
    with evaluate.env_pool(cfg, "fake") as pool, pytest.raises(ValueError, match="holds 1"):
        evaluate.evaluate(
            LoadedNoise(8), cfg2, "fake", exec_len=2, init_states=[0], pool=pool, progress=False
        )


def test_paired_rejects_repeated_names(fake_world):
    with pytest.raises(ValueError, match="repeat"):
        evaluate.paired([VARIANTS[0], VARIANTS[0]], fake_world.cfg, "fake", progress=False)


def test_paired_report_holds_each_policy_and_comparisons_to_the_base(fake_world):
    by = evaluate.paired(VARIANTS, fake_world.cfg, "fake", progress=False)
    out = evaluate.paired_report(by, seed=0)
    assert set(out) == {"base", "stage1", "policytrim", "compare"}
    assert out["base"]["success_rate"]["value"] == pytest.approx(5 / 6)
    assert out["policytrim"]["exec_len"]["value"] < 8  # episodes end inside chunks
    assert set(out["compare"]) == {"stage1", "policytrim"}
    speedup = out["compare"]["policytrim"]["call_speedup"]
    calls = {n: out[n]["calls"]["value"] for n in ("base", "policytrim")}
    assert speedup["value"] == pytest.approx(calls["base"] / calls["policytrim"])
    assert speedup["lo"] <= speedup["value"] <= speedup["hi"]
    assert out["compare"]["stage1"]["sr_diff"]["value"] == 0.0
    with pytest.raises(ValueError, match="no 'nope'"):
        evaluate.paired_report(by, base="nope")
    summary, compared = evaluate.paired_tables(out, ["base", "stage1", "policytrim"])
    assert list(summary.index) == ["base", "stage1", "policytrim"]
    assert list(compared.index) == ["stage1", "policytrim"]
    assert summary.loc["base", "success_rate"].startswith("0.833 [")


def ok(task, init, steps):
    return record(task, init, True, steps)


def test_median_saving_state_ignores_states_either_policy_failed():
    base = [ok("a", 0, 100), ok("a", 1, 50), ok("b", 0, 80), ok("b", 1, 70)]
    method = [ok("a", 0, 40), ok("a", 1, 45), ok("b", 0, 60), record("b", 1, False, 0)]
    # savings on states both solved: a#0 60, a#1 5, b#0 20 -> median 20
    assert evaluate.median_saving_state(base, method) == ("b", 0)
    assert evaluate.median_saving_state(base, [record("a", 0, False, 0)]) is None


def test_estimate_text():
    assert evaluate.estimate_text({"value": 0.9351, "lo": 0.895, "hi": 0.97}) == (
        "0.935 [0.895, 0.97]"
    )
    assert evaluate.estimate_text({"value": 2.0, "lo": None, "hi": None}) == "2"
    assert evaluate.estimate_text({"value": float("nan"), "lo": 1, "hi": 2}) == "n/a"


def test_evaluation_variants_follow_the_stage_metrics(tmp_path):
    cfg = config.load("default")  # pi05: base h = 5
    runs = {
        "stage1": ("rl/s1", {"horizon": 15, "iterations": 20}),
        "policytrim": ("rl/s2", {"horizon": 15, "start": "rl/s1/final"}),
    }
    got = handover.evaluation_variants(cfg, "pi05", "sft", runs)
    assert got == [
        Variant("base", Path("sft/final"), 5),
        Variant("stage1", Path("rl/s1/final"), 15),
        Variant("policytrim", Path("rl/s2/final"), 15),
    ]
    ablated = {**runs, "stage1": ("rl/s1", {"skipped": "ablation", "horizon": 5})}
    assert [v.name for v in handover.evaluation_variants(cfg, "pi05", "sft", ablated)] == [
        "base",
        "policytrim",
    ]
    with pytest.raises(ValueError, match="no horizon"):
        handover.evaluation_variants(cfg, "pi05", "sft", {"stage1": ("x", {"horizon": None})})


def test_keyframe_strips_rerun_every_policy_from_one_state_and_draw(fake_world, tmp_path):
    from ptrim import figures

    by = evaluate.paired(VARIANTS, fake_world.cfg, "fake", progress=False)
    strips = evaluate.keyframe_strips(VARIANTS, by, fake_world.cfg, "fake", ("a", 1), 3)
    assert list(strips) == ["base", "stage1", "policytrim"]
    for v in VARIANTS:
        s = strips[v.name]
        assert (s["task"], s["init_index"], s["exec_len"]) == ("a", 1, v.exec_len)
        assert s["steps"] == 13 and s["success"] and s["reproduced"]
        assert len(s["frames"]) == len(s["frame_steps"]) <= 3
        assert s["frame_steps"][0] == 0 and all(t % v.exec_len == 0 for t in s["frame_steps"])
    fig = figures.fig3_keyframes(strips, "fake")
    assert len([ax for ax in fig.axes if ax.images]) == sum(
        len(s["frames"]) for s in strips.values()
    )
    paths = figures.save_figure(fig, tmp_path / "fig3")
    paths += figures.save_figure(
        figures.paired_bars(evaluate.paired_report(by), [v.name for v in VARIANTS]), tmp_path / "p"
    )
    assert all(p.stat().st_size > 1000 for p in paths)
