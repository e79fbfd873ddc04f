"""The Ray rollout backend (``rollout.backend: ray``): the same episodes as the local backend for
the same seeds and groups, a GRPO iteration that ends with the same weights, and a killed
worker whose groups run again without an episode lost or counted twice. The tests of this file
share one local Ray of 2 CPUs per test process (starting it takes 15-45 s on two busy cores);
each starts and kills its own workers."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from ptrim import config, trainer
from ptrim.backend import LocalRollouts, Run, Work

PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"
SUITE = "libero_object"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ray():
    """A local Ray instance of 2 CPUs, shut down after this file's last test."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def outcomes(episodes):
    return [(e.init_index, e.seed, e.exec_len, e.success, e.steps, e.n_calls) for e in episodes]


def groups_work(task: str, inits=(0, 1, 0), exec_lens=(4, 8)) -> list[Work]:
    """One work item per GRPO group: its members share the initial state, seeds as the trainer
    derives them (iteration 0 of stage 1)."""
    G = len(exec_lens)
    return [
        trainer.Group(
            task,
            init,
            exec_lens,
            tuple(trainer.sample_seed(0, "stage1", 0, g, j) for j in range(G)),
        ).work()
        for g, init in enumerate(inits)
    ]


def keys_of(work: list[Work], episodes) -> Counter:
    """``(group, member)`` of each episode, found by its (unique) seed."""
    key = {run.seed: (g, j) for g, w in enumerate(work) for j, run in enumerate(w.runs)}
    return Counter(key[e.seed] for e in episodes)


def test_the_default_path_never_imports_ray():
    code = "import sys, ptrim.trainer, ptrim.rollout, ptrim.evaluate; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_leases_keep_items_whole_and_tasks_apart():
    pytest.importorskip("ray")
    from ptrim.ray_backend import leases

    def item(task, n):
        return Work(task, tuple(Run(0, 1, s) for s in range(n)))

    work = [item("a", 2), item("a", 2), item("a", 3), item("b", 1), item("b", 1), item("a", 1)]
    assert leases(work, 4) == [[0, 1], [2], [3, 4], [5]]
    assert leases(work, 1) == [[0], [1], [2], [3], [4], [5]]  # a group is never split


# ------------------------------------------------------------------------------ fake envs
@pytest.mark.ray
def test_a_grpo_iteration_on_ray_ends_with_the_weights_of_a_local_one(ray, tmp_path):
    from tests.fakes import GaussianPolicy
    from tests.test_trainer import TASKS, cfg_with, reach

    results = {}
    for backend in ("local", "ray"):
        cfg = cfg_with(
            f"rollout.backend={backend}",
            "rollout.num_envs=1",  # one env per worker too: plans from batches of 1, bit-equal
            "rollout.ray.num_workers=2",
            "rl.stage1.iterations=1",
        )
        policy = GaussianPolicy(plan_horizon=8)
        out = trainer.train_stage1(
            policy, cfg, SUITE, tmp_path / backend, model_name="oft", sr_base=0.5, start_h=2,
            tasks=TASKS, env_factory=reach(), progress=False,
        )  # fmt: skip
        results[backend] = (out["history"][0], policy.state_dict())
    (local, w_local), (on_ray, w_ray) = results["local"], results["ray"]
    for name in ("success_rate", "calls", "steps_all", "reward/total", "train/loss"):
        assert on_ray[name] == local[name], name
    assert on_ray["time/sync_s"] > 0
    for k, v in w_local.items():
        torch.testing.assert_close(w_ray[k], v, rtol=0, atol=0)


class Killed(Exception):
    """Stands for the learner process dying."""


@pytest.mark.ray
def test_a_learner_killed_mid_run_resumes_on_ray_to_the_uninterrupted_weights(
    ray, tmp_path, monkeypatch
):
    """Three stage-1 iterations on Ray; a run killed inside its third update restarts from the
    checkpoint of iteration 2 (new workers, new weights in the object store) and ends with the
    weights of the run that was never killed."""
    from ptrim import grpo
    from tests.fakes import GaussianPolicy
    from tests.test_trainer import TASKS, cfg_with, reach

    cfg = cfg_with(
        "rollout.backend=ray",
        "rollout.num_envs=1",
        "rollout.ray.num_workers=2",
        "rl.stage1.iterations=3",
        "rl.checkpoint_every=2",
    )

    def run(out_dir):
        policy = GaussianPolicy(plan_horizon=8)
        out = trainer.train_stage1(
            policy, cfg, SUITE, tmp_path / out_dir, model_name="oft", sr_base=0.5, start_h=2,
            tasks=TASKS, env_factory=reach(), progress=False,
        )  # fmt: skip
        return policy, out

    reference, _ = run("ref")
    real_update, updates = grpo.ppo_update, []

    def update_then_die(*args, **kwargs):
        updates.append(1)
        if len(updates) == 3:
            raise Killed
        return real_update(*args, **kwargs)

    monkeypatch.setattr(grpo, "ppo_update", update_then_die)
    with pytest.raises(Killed):
        run("run")
    monkeypatch.setattr(grpo, "ppo_update", real_update)
    policy, out = run("run")
    assert out["resumed_from"] == 2 and out["finished"] and out["iteration"] == 3
    for k, v in reference.state_dict().items():
        torch.testing.assert_close(policy.state_dict()[k], v, rtol=0, atol=0)
    assert not torch.equal(GaussianPolicy(plan_horizon=8).head.weight, policy.head.weight)


# ------------------------------------------------------------------------------ real LIBERO
@pytest.fixture(scope="module")
def libero_case():
    """A smoke-profile micro OFT on libero_object task 0 (episodes capped at 16 steps), three
    groups of 2, and what the local backend gives for them."""
    from ptrim import evaluate, sft

    cfg = config.load("smoke", ["rollout.max_steps=16"], PARAMS)
    policy = sft.build_policy(cfg, "oft", SUITE).eval()
    factory = functools.partial(evaluate.make_env, cfg, SUITE, seed=cfg.seed)
    work = groups_work(cfg.libero.task_list(SUITE)[0])
    with LocalRollouts(factory, 1, "inline", max_envs=1) as local:
        local.sync(policy)
        expected = local.run(work, sample=True)
    return cfg, policy, factory, work, expected


def ray_rollouts(cfg, factory):
    from ptrim.ray_backend import RayRollouts

    ray_cfg = config.RayConfig(num_workers=2, envs_per_worker=1)
    return RayRollouts(factory, ray_cfg, max_envs=1)


@pytest.mark.sim
@pytest.mark.ray
def test_ray_runs_the_episodes_the_local_backend_runs(ray, libero_case):
    cfg, policy, factory, work, expected = libero_case
    with ray_rollouts(cfg, factory) as backend:
        backend.sync(policy)
        episodes = backend.run(work, sample=True)
    assert outcomes(episodes) == outcomes(expected)
    assert keys_of(work, episodes) == keys_of(work, expected)
    for ours, theirs in zip(episodes, expected, strict=True):
        np.testing.assert_allclose(ours.calls[0].plan, theirs.calls[0].plan, atol=1e-5)


@pytest.mark.sim
@pytest.mark.ray
def test_a_killed_worker_is_replaced_and_its_groups_run_again(ray, libero_case):
    cfg, policy, factory, work, expected = libero_case
    reported = []
    with ray_rollouts(cfg, factory) as backend:

        def kill_a_busy_worker(episode):
            if not reported:  # the first group came back: kill the worker of another one
                busy = backend.in_flight()
                ray.kill(backend.actors[busy[0] if busy else 0])
            reported.append(episode)

        backend.sync(policy)
        episodes = backend.run(work, sample=True, on_episode=kill_a_busy_worker)
        assert backend.replaced == 1
    everyone = Counter((g, j) for g, w in enumerate(work) for j in range(len(w.runs)))
    assert keys_of(work, episodes) == everyone
    assert keys_of(work, reported) == everyone  # reported once each, after the re-run
    assert outcomes(episodes) == outcomes(expected)
