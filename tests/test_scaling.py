"""The scaling benchmark (``python -m ptrim.bench scale``): the projection's arithmetic, the
learner-update timing on synthetic chunks, and one tiny real run (LIBERO, local and Ray)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from ptrim import bench, grpo, scaling
from ptrim.models import build

IT = scaling.Iteration(
    episodes_per_s_per_worker=0.5,
    sync_s=0.1,
    update_s_per_chunk={"cpu": 0.01, "cuda": 0.002},
    chunks_per_episode=20.0,
    group_size=8,
    groups_per_iter=4,
)


def rows_of(rows, batch, learner):
    return {r["workers"]: r for r in rows if r["batch"] == batch and r["learner"] == learner}


def test_a_fixed_batch_stops_scaling_at_one_group_per_worker():
    fixed = rows_of(scaling.project(IT, [1, 2, 4, 8, 128]), "fixed", "cpu")
    # 4 groups of 8 episodes at 0.5 episodes/s per worker: 64 s on one worker, 16 s on four
    assert fixed[1]["rollout_s"] == pytest.approx(64.0)
    assert fixed[2]["rollout_s"] == pytest.approx(32.0)
    assert fixed[4]["rollout_s"] == fixed[8]["rollout_s"] == fixed[128]["rollout_s"] == 16.0
    assert fixed[128]["busy_workers"] == 4 and fixed[128]["episodes"] == 32
    # 32 episodes × 20 chunks × 10 ms, the same for any worker count
    assert all(r["update_s"] == pytest.approx(6.4) for r in fixed.values())
    assert fixed[1]["iteration_s"] == pytest.approx(0.1 + 64.0 + 6.4)
    assert all(r["kind"] == "projection" for r in fixed.values())


def test_a_per_worker_batch_keeps_rollouts_flat_and_grows_the_update():
    rows = scaling.project(IT, [1, 8, 128])
    cpu, gpu = rows_of(rows, "per_worker", "cpu"), rows_of(rows, "per_worker", "cuda")
    assert {r["rollout_s"] for r in cpu.values()} == {16.0}  # one group per worker
    assert cpu[128]["episodes"] == 128 * 8
    assert cpu[128]["update_s"] == pytest.approx(128 * 8 * 20 * 0.01)
    assert gpu[128]["update_s"] == pytest.approx(cpu[128]["update_s"] / 5)
    assert gpu[128]["episodes_per_s"] > cpu[128]["episodes_per_s"]
    assert math.isclose(cpu[8]["episodes_per_s"], 64 / cpu[8]["iteration_s"])


def test_csv_holds_every_row_under_the_union_of_columns(tmp_path):
    rows = [{"a": 1, "b": 0.123456}, {"a": 2, "c": "x"}]
    path = scaling.write_csv(rows, tmp_path / "sub" / "t.csv")
    got = list(csv.DictReader(path.open()))
    assert list(got[0]) == ["a", "b", "c"]
    assert got[0]["b"] == "0.1235" and got[1]["c"] == "x" and got[1]["b"] == ""


def test_synthetic_chunks_score_like_recorded_ones_and_time_an_update():
    torch.manual_seed(0)
    policy = build("oft", "micro", 8, image_size=16, cameras=("agentview",)).eval()
    chunks = scaling.synthetic_chunks(
        policy, 40, image_size=16, cameras=["agentview"], proprio_dim=8, exec_len=5
    )
    assert len(chunks) == 40 and {c.executed for c in chunks} == {5}
    assert {c.advantage for c in chunks} == {1.0, -1.0}
    # logp_old is the recorded log-likelihood of the executed slice: the policy agrees
    with torch.no_grad():
        logp = grpo.chunk_log_probs(policy, chunks[:4])
    np.testing.assert_allclose(logp.numpy(), [c.logp_old for c in chunks[:4]], rtol=1e-4)
    settings = grpo.PPOSettings(0.2, 0.28, 3.0, 0.0, 1.0, 1, 1, 16)
    assert scaling.measure_update(policy, chunks, settings, repeats=1) > 0


def test_learner_only_cli_writes_its_json(tmp_path):
    out = tmp_path / "l.json"
    bench.main(
        ["scale", "--learner-only", "--family", "oft", "--preset", "micro", "--update-chunks",
         "8", "--repeats", "1", "--learner-devices", "cpu", "--json", str(out)]
    )  # fmt: skip
    res = json.loads(out.read_text())
    assert res["family"] == "oft" and res["preset"] == "micro" and "rollouts" not in res
    assert res["learner"]["cpu"]["chunks"] == 8 and res["learner"]["cpu"]["update_s"] > 0


@pytest.mark.sim
@pytest.mark.ray
@pytest.mark.slow
def test_scale_measures_local_and_ray_rollouts_and_writes_the_projection(tmp_path):
    pytest.importorskip("ray")
    res_path, csv_path, png = tmp_path / "s.json", tmp_path / "s.csv", tmp_path / "s.png"
    bench.main(
        ["scale", "--family", "oft", "--preset", "micro", "--groups", "2", "--group-size", "2",
         "--steps", "8", "--workers", "1", "--update-chunks", "8", "--repeats", "1",
         "--project", "1", "4", "--threads", "1", "--learner-devices", "cpu",
         "--csv", str(csv_path), "--png", str(png), "--json", str(res_path)]
    )  # fmt: skip
    res = json.loads(res_path.read_text())
    backends = [(r["backend"], r["workers"]) for r in res["rollouts"]]
    assert backends == [("local", 1), ("ray", 1)]
    for r in res["rollouts"]:  # an untrained policy runs every episode to the 8-step cap
        assert r["episodes"] == 4 and r["env_steps"] == 32 and r["episodes_per_s"] > 0
    assert res["iteration"]["chunks_per_episode"] == 1.0  # oft: h = 8 of 8 steps
    rows = list(csv.DictReader(csv_path.open()))
    assert {r["kind"] for r in rows} == {"measured", "projection"}
    assert len([r for r in rows if r["kind"] == "projection"]) == 2 * 2  # workers × batches
    assert png.stat().st_size > 10_000
