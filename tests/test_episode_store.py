"""The episode store: finished batches round-trip exactly, a killed evaluation resumes task by
task, and a changed policy, setting or argument never reuses a stale batch."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ptrim import evaluate, metrics, profiling
from ptrim.episode import CallRecord, EpisodeRecord
from ptrim.episode_store import EpisodeStore, key_digest, weights_fingerprint
from tests.fakes import CountingEnv, NoisePolicy

SOLVE = {"a": {0: 10, 1: 13, 2: 17}, "b": {0: 21, 1: 6}}


@pytest.fixture
def fake_libero(monkeypatch):
    """Two fake tasks; ``built`` lists the task of every environment made."""
    built: list[str] = []
    broken: set[str] = set()

    def make_env(cfg, suite, task, seed=0):
        if task in broken:
            raise RuntimeError(f"simulator for {task} died")
        built.append(task)
        return CountingEnv(SOLVE[task], max_steps=30, task=task)

    monkeypatch.setattr(evaluate, "make_env", make_env)
    cfg = SimpleNamespace(
        bench=lambda suite: SimpleNamespace(task_list=lambda suite: ["a", "b"], init_states=50),
        rollout=SimpleNamespace(num_envs=1, workers="inline", backend="local"),
    )
    return SimpleNamespace(cfg=cfg, built=built, broken=broken)


def traced_record(i: int) -> EpisodeRecord:
    rng = np.random.default_rng(i)
    return EpisodeRecord(
        benchmark="libero",
        suite="libero_object",
        task=f"task {i}",
        init_index=i,
        seed=100 + i,
        plan_horizon=8,
        exec_len=4,
        max_steps=280,
        control_hz=20.0,
        success=i % 2 == 0,
        success_step=7 if i % 2 == 0 else None,
        steps=7 if i % 2 == 0 else 280,
        calls=[
            CallRecord(step=0, plan=np.ones((8, 7)), executed=4, latency_s=0.0125, batch_size=2),
            CallRecord(step=4, plan=np.ones((8, 7)), executed=3, latency_s=0.0375, batch_size=1),
        ],
        policy_time_s=0.03,
        env_time_s=0.5 + i,
        render_time_s=0.25,
        proprio_trace=rng.normal(size=(8, 9)).astype(np.float32) if i != 1 else None,
        action_trace=rng.normal(size=(7, 7)) if i != 1 else None,
    )


def test_a_batch_round_trips_scalars_calls_and_traces(tmp_path):
    store = EpisodeStore(tmp_path, {"weights": "abc"})
    episodes = [traced_record(i) for i in range(3)]
    store.save({"task": "t", "exec_len": 4}, episodes)
    back = store.load({"exec_len": 4, "task": "t"})  # key order does not matter
    assert [e.summary() for e in back] == [e.summary() for e in episodes]
    for b, e in zip(back, episodes, strict=True):
        assert [(c.step, c.executed, c.latency_s, c.batch_size) for c in b.calls] == [
            (c.step, c.executed, c.latency_s, c.batch_size) for c in e.calls
        ]
        for name in ("proprio_trace", "action_trace"):
            if getattr(e, name) is None:
                assert getattr(b, name) is None
            else:
                np.testing.assert_array_equal(getattr(b, name), getattr(e, name))
                assert getattr(b, name).dtype == getattr(e, name).dtype
    # the metrics read from a loaded batch are those of the original, latency included
    assert metrics.to_json(metrics.summarize(back, seed=0)) == metrics.to_json(
        metrics.summarize(episodes, seed=0)
    )
    assert [p.name for p in tmp_path.iterdir()] == [
        f"{key_digest(store.context | {'task': 't', 'exec_len': 4})}.npz"
    ]


def test_context_and_key_both_decide_the_file(tmp_path):
    a, b = EpisodeStore(tmp_path, {"weights": "a"}), EpisodeStore(tmp_path, {"weights": "b"})
    a.save({"h": 4}, [traced_record(0)])
    assert {"h": 4} in a
    assert {"h": 4} not in b and {"h": 5} not in a
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically, nothing left over


def test_weights_fingerprint_follows_every_parameter_and_buffer():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    first = weights_fingerprint(net)
    assert weights_fingerprint(net) == first
    with torch.no_grad():
        net[0].weight[1, 2] += 1e-6
    second = weights_fingerprint(net)
    assert second != first
    net[1].running_mean[0] = 0.5
    assert weights_fingerprint(net) != second
    assert weights_fingerprint(net.to(torch.bfloat16)) != weights_fingerprint(net.float())


def summaries(episodes):
    return [(e.task, e.init_index, e.seed, e.steps, e.success, e.n_calls) for e in episodes]


def test_evaluate_with_a_store_resumes_task_by_task(fake_libero, tmp_path):
    cfg, built = fake_libero.cfg, fake_libero.built
    run = dict(exec_len=4, init_states=[0, 1, 2], seed=3, progress=False, trace=True)
    fresh = evaluate.evaluate(NoisePolicy(8), cfg, "fake", **run)
    built.clear()

    store = EpisodeStore(tmp_path, {"weights": "w"})
    fake_libero.broken.add("b")  # killed while task b runs: task a is already saved
    with pytest.raises(RuntimeError, match="died"):
        evaluate.evaluate(NoisePolicy(8), cfg, "fake", store=store, **run)
    assert built == ["a"] and len(list(tmp_path.iterdir())) == 1

    fake_libero.broken.clear()
    built.clear()
    resumed = evaluate.evaluate(NoisePolicy(8), cfg, "fake", store=store, **run)
    assert built == ["b"]  # only the unfinished task ran again
    assert summaries(resumed) == summaries(fresh)
    for r, f in zip(resumed, fresh, strict=True):
        np.testing.assert_array_equal(r.proprio_trace, f.proprio_trace)

    built.clear()
    again = evaluate.evaluate(NoisePolicy(8), cfg, "fake", store=store, **run)
    assert built == [] and summaries(again) == summaries(fresh)


@pytest.mark.parametrize(
    "change",
    [{"exec_len": 2}, {"seed": 4}, {"init_states": [0, 1]}, {"sample": True}, {"trace": False}],
)
def test_evaluate_never_reuses_a_batch_run_with_other_arguments(fake_libero, tmp_path, change):
    cfg, built = fake_libero.cfg, fake_libero.built
    run = dict(exec_len=4, init_states=[0, 1, 2], seed=3, progress=False, trace=True)
    store = EpisodeStore(tmp_path, {"weights": "w"})
    evaluate.evaluate(NoisePolicy(8), cfg, "fake", store=store, **run)
    built.clear()
    evaluate.evaluate(NoisePolicy(8), cfg, "fake", store=store, **{**run, **change})
    assert built == ["a", "b"]


def test_policy_store_keys_on_weights_and_simulator_settings(tmp_path):
    from ptrim import config

    cfg = config.load("smoke")
    net = torch.nn.Linear(2, 2)
    a = evaluate.policy_store(tmp_path, net, cfg, "libero_object")
    assert a.context["weights"] == weights_fingerprint(net)
    assert a.context["libero"]["image_size"] == cfg.libero.image_size
    assert "families" not in a.context["libero"]  # who trains there does not change episodes
    other = config.load("smoke", ["libero.image_size=32"])
    b = evaluate.policy_store(tmp_path, net, other, "libero_object")
    assert a.path({"h": 1}) != b.path({"h": 1})
    families = config.load("smoke", ["libero.families=[oft]"])
    assert evaluate.policy_store(tmp_path, net, families, "object").path({"h": 1}) == a.path(
        {"h": 1}
    )
    mw = evaluate.policy_store(tmp_path, net, cfg, "metaworld_mt10")
    assert mw.context["metaworld"]["max_steps"] == 100 and "libero" not in mw.context


def test_sweep_and_repeated_rollouts_pass_the_store_on(fake_libero, tmp_path):
    cfg, built = fake_libero.cfg, fake_libero.built
    store = EpisodeStore(tmp_path, {"weights": "w"})
    kw = dict(init_states=2, seed=0, progress=False, store=store)
    first = profiling.sweep(NoisePolicy(4), cfg, "fake", [2, 4], **kw)
    reps = profiling.repeated_rollouts(NoisePolicy(4), cfg, "fake", exec_len=2, repeats=2, **kw)
    built.clear()
    assert summaries(profiling.sweep(NoisePolicy(4), cfg, "fake", [2, 4], **kw)[4]) == summaries(
        first[4]
    )
    again = profiling.repeated_rollouts(NoisePolicy(4), cfg, "fake", exec_len=2, repeats=2, **kw)
    assert summaries(again) == summaries(reps) and built == []
