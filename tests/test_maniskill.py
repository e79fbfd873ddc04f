"""ManiSkill3 adapter: builds, resets to a fixed seed deterministically, steps without rendering,
renders upright on request, restores states, rejects bad names helpfully."""

import time

import numpy as np
import pytest

pytestmark = [pytest.mark.sim, pytest.mark.maniskill]

pytest.importorskip("mani_skill")
ms = pytest.importorskip("ptrim.envs.maniskill")


@pytest.fixture(scope="module")
def env():
    e = ms.ManiSkillEnv("maniskill", "PickCube-v1", cameras=("agentview", "wrist"))
    yield e
    e.close()


def test_suite_tasks_and_instructions():
    names = ms.task_names("maniskill")
    assert list(names) == sorted(names) and "PickCube-v1" in names
    assert set(names) <= set(ms.INSTRUCTIONS)
    assert ms.resolve_task("maniskill", 0) == names[0]
    with pytest.raises(ValueError, match="not a maniskill task.*valid"):
        ms.resolve_task("maniskill", "PickCube-v2")
    with pytest.raises(ValueError, match="dropped"):
        ms.resolve_task("maniskill", "PegInsertionSide-v1")
    with pytest.raises(IndexError, match="0..3"):
        ms.resolve_task("maniskill", 99)
    with pytest.raises(ValueError, match="unknown ManiSkill suite 'maniskill3'; valid"):
        ms.task_names("maniskill3")
    with pytest.raises(ValueError, match="unknown cameras \\['left'\\]; valid"):
        ms.ManiSkillEnv("maniskill", "PickCube-v1", cameras=("left",))


def test_reset_is_deterministic_and_init_states_differ(env):
    assert env.num_init_states() == 50 and env.control_hz == pytest.approx(20.0)
    env.reset(3)
    first = env.get_state()
    env.step(np.array([0.5, 0, 0, 0, 0, 0, 1.0]))
    assert not np.array_equal(env.get_state(), first)
    env.reset(3)
    np.testing.assert_array_equal(env.get_state(), first)
    env.reset(4)
    assert not np.allclose(env.get_state(), first)
    with pytest.raises(IndexError, match="out of range 0..49"):
        env.reset(50)
    with pytest.raises(ValueError, match="7-D action"):
        env.step(np.zeros(4))


def test_stepping_does_not_render(env, monkeypatch):
    env.reset(0)

    def no_render(*a, **k):
        raise AssertionError("step() rendered")

    monkeypatch.setattr(env.sim.scene, "update_render", no_render)
    start = time.perf_counter()
    for _ in range(20):
        env.step(np.array([0.2, 0.0, -0.2, 0, 0, 0, -1.0]))
    assert (time.perf_counter() - start) / 20 < 0.05  # physics only: ~5 ms per step


def test_observation_and_state_round_trip(env):
    env.reset(0)
    obs = env.observe()
    assert set(obs["images"]) == {"agentview", "wrist"}
    for img in obs["images"].values():
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8 and img.std() > 5
    # upright: the table (bottom of the front view) is brighter than the sky grid above it
    agent = obs["images"]["agentview"].astype(float)
    assert agent[-20:].mean() > agent[:10].mean()
    assert obs["proprio"].shape == (4,) and obs["proprio"].dtype == np.float32
    assert 0.07 < obs["proprio"][3] <= 0.081  # fingers open at reset
    assert obs["instruction"] == ms.INSTRUCTIONS["PickCube-v1"]
    state = env.get_state()
    assert state.dtype == np.float64 and state.ndim == 1
    for _ in range(3):
        env.step(np.array([1.0, 0.0, 0.0, 0, 0, 0, 1.0]))
    env.set_state(state)
    np.testing.assert_allclose(env.get_state(), state, atol=1e-6)  # PhysX renormalises ~1e-8
    again = env.observe()
    for cam in obs["images"]:
        np.testing.assert_array_equal(again["images"][cam], obs["images"][cam])
    with pytest.raises(ValueError, match="expected a state of size"):
        env.set_state(state[:-1])


def test_rotation_and_gripper_follow_the_adapter_convention(env):
    from scipy.spatial.transform import Rotation

    env.reset(0)
    q0 = env.tcp_pose()[1]
    for _ in range(4):
        env.step(np.array([0, 0, 0, 0, 0, 1.0, 1.0]))  # turn counter-clockwise, close
    q1 = env.tcp_pose()[1]
    turn = Rotation.from_quat(np.roll(q1, -1)) * Rotation.from_quat(np.roll(q0, -1)).inv()
    assert turn.as_rotvec()[2] > 0.05
    assert env.proprio()[3] < 0.03  # closed on +1
