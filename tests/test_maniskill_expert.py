"""ManiSkill's shipped motion-planning solutions as pd_ee_delta_pose experts: level 0 solves
PickCube, level 0.9 records redundancy events and still solves it."""

import numpy as np
import pytest

pytestmark = [pytest.mark.sim, pytest.mark.maniskill]

pytest.importorskip("mani_skill")
pytest.importorskip("mplib")
ms = pytest.importorskip("ptrim.envs.maniskill")
from ptrim.experts import maniskill as experts  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = ms.ManiSkillEnv("maniskill", "PickCube-v1")
    yield e
    e.close()


def test_every_task_has_a_shipped_solution():
    for task in ms.task_names("maniskill"):
        assert callable(experts.solution(task).solve)
    with pytest.raises(ValueError, match="no ManiSkill motion-planning expert for 'PickCube-v2'"):
        experts.solution("PickCube-v2")


def test_plan_keyframes_come_from_the_shipped_solution(env):
    env.reset(1)
    frames, solved = experts.plan("PickCube-v1", env.get_state())
    assert solved
    assert [f.kind for f in frames] == ["move", "move", "grip", "move"]  # reach, grasp, goal
    assert frames[2].close and frames[1].pos[2] < frames[0].pos[2]


def test_level_zero_solves_pick_cube_deterministically(env):
    first = experts.run_expert_episode(env, 2, seed=0, level=0.0)
    assert first["success"] and first["steps"] <= env.max_steps, first["steps"]
    assert first["events"] == [] and first["speed_scale"] == 1.0
    assert first["actions"].shape == (first["steps"], 7)
    assert first["states"].shape[0] == first["steps"] + 1
    assert np.abs(first["actions"]).max() <= 1.0
    again = experts.run_expert_episode(env, 2, seed=0, level=0.0)
    assert again["steps"] == first["steps"]
    np.testing.assert_allclose(again["actions"], first["actions"], atol=1e-5)


def test_redundant_demos_record_events_are_longer_and_still_succeed(env):
    plain, redundant, kinds = [], [], set()
    for i in range(3):
        plain.append(experts.run_expert_episode(env, i, seed=i, level=0.0)["steps"])
        r = experts.run_expert_episode(env, i, seed=i, level=0.9)
        assert r["success"], (i, r["events"])
        assert r["events"] and all(ev["steps"] > 0 for ev in r["events"])
        assert all(ev["step"] < int(0.5 * env.max_steps) for ev in r["events"])
        redundant.append(r["steps"])
        kinds |= {ev["kind"] for ev in r["events"]}
    assert np.mean(redundant) > 1.3 * np.mean(plain), (plain, redundant)
    assert len(kinds) >= 2, kinds
