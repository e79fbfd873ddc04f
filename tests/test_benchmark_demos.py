"""Meta-World and ManiSkill3 through the pipeline's code: the profile builds their envs, the
demo recorder writes LIBERO-layout files with each benchmark's own proprio and actions, and
behaviour cloning reads them."""

from pathlib import Path

import numpy as np
import pytest

from ptrim import config, demos
from ptrim.data import ChunkDataset, DemoFile
from ptrim.envs import registry

# suite, task, action dim, proprio dim, instruction
METAWORLD = ("metaworld_mt10", "reach-v3", 4, 4, "reach the goal position")
MANISKILL = ("maniskill", "PushCube-v1", 7, 4, "push the blue cube forward onto the target")
BENCHMARKS = [
    pytest.param(*METAWORLD, id="metaworld", marks=pytest.mark.sim),
    pytest.param(*MANISKILL, id="maniskill", marks=[pytest.mark.sim, pytest.mark.maniskill]),
]
AS_ONE = [  # the same, each as one value (a fixture's parameter)
    pytest.param(METAWORLD, id="metaworld", marks=pytest.mark.sim),
    pytest.param(MANISKILL, id="maniskill", marks=[pytest.mark.sim, pytest.mark.maniskill]),
]


def job(suite: str, task: str, path: Path) -> demos.TaskJob:
    return demos.TaskJob(
        suite=suite,
        task=task,
        path=path,
        init_states=[0, 1],
        redundancy=0.9,
        seed=0,
        image_size=32,
        cameras=("agentview",),
        max_steps=None if suite == "maniskill" else 100,
        settle_steps=0,
    )


@pytest.fixture(scope="module", params=AS_ONE)
def recorded(request, tmp_path_factory):
    suite, task, *spec = request.param
    path = tmp_path_factory.mktemp(suite) / f"{task}_demo.hdf5"
    stats = demos.record_task(job(suite, task, path))
    return suite, task, path, stats, spec


def test_recording_writes_demos_with_the_benchmarks_proprio(recorded):
    suite, task, path, stats, (action_dim, proprio_dim, instruction) = recorded
    assert stats["kept"] == 2 and not stats["failed_inits"]
    bench = registry.benchmark_of(suite)
    with DemoFile(path) as f:
        assert len(f) == 2 and f.instruction == instruction
        demo = f[0]
        T = len(demo.actions)
        assert demo.actions.shape == (T, action_dim) and demo.obs["proprio"].shape == (
            T,
            proprio_dim,
        )
        assert (
            demo.obs["agentview_rgb"].shape == (T, 32, 32, 3)
            and demo.obs["agentview_rgb"].std() > 5
        )
        assert f.meta(0)["expert"] == f"ptrim.experts.{bench}" and f.meta(0)["redundancy"] in (
            0.9,
            0.45,
            0.225,
        )
        assert np.all(np.abs(demo.actions) <= 1.0)
        assert f.events(0) or f.events(1)  # redundancy was injected into at least one


def test_a_second_run_resumes_instead_of_recording_again(recorded):
    suite, task, path, _, _ = recorded
    again = demos.record_task(job(suite, task, path))
    assert again == {"kept": 2, "tried": 0, "failed_inits": [], "steps": []}


def test_behaviour_cloning_reads_the_demos(recorded):
    _, _, path, _, (action_dim, proprio_dim, _) = recorded
    data = ChunkDataset([path], horizon=4, cameras=("agentview",))
    assert (data.action_dim, data.proprio_dim) == (action_dim, proprio_dim)
    sample = data[0]
    assert sample["actions"].shape == (4, action_dim) and sample["proprio"].shape == (proprio_dim,)


@pytest.mark.parametrize(("suite", "task", "action_dim", "proprio_dim", "instruction"), BENCHMARKS)
def test_the_profile_builds_the_env(suite, task, action_dim, proprio_dim, instruction):
    cfg = config.load("smoke", [f"{registry.benchmark_of(suite)}.image_size=40"])
    env = registry.make_env(cfg, suite, task, seed=0)
    try:
        assert env.benchmark == registry.benchmark_of(suite) and env.action_dim == action_dim
        env.reset(0)
        obs = env.observe()
        assert obs["images"]["agentview"].shape == (40, 40, 3)
        assert obs["proprio"].shape == (proprio_dim,) and obs["instruction"] == instruction
    finally:
        env.close()


@pytest.mark.parametrize(("suite", "task", "action_dim", "proprio_dim", "instruction"), BENCHMARKS)
def test_expert_success_runs_physics_only(suite, task, action_dim, proprio_dim, instruction):
    limit = None if suite == "maniskill" else 100
    result = demos.expert_success(
        suite, task, [0, 1, 2], redundancy=0.0, attempts=1, seed=0, max_steps=limit,
        settle_steps=0,
    )  # fmt: skip
    assert result["n"] == 3 and result["success_rate"] == 1.0
    assert all(s <= (limit or 80) for s in result["steps"])
