import functools

import numpy as np
import pytest

from ptrim.envs import libero_setup
from ptrim.envs.batch import EnvBatch
from ptrim.models.scripted import ConstantPolicy
from ptrim.rollout import Job, rollout

HOLD = np.array([0, 0, 0, 0, 0, 0, -1], np.float32)


# ------------------------------------------------------------ registry (no simulator)
def test_suite_aliases_and_task_lookup():
    assert libero_setup.canonical_suite("long") == "libero_10"
    assert libero_setup.canonical_suite("Object") == "libero_object"
    names = libero_setup.task_names("libero_object")
    assert len(names) == 10
    assert libero_setup.resolve_task("object", 3) == names[3]
    assert libero_setup.resolve_task("object", names[5]) == names[5]


def test_unknown_suite_lists_valid_ones():
    with pytest.raises(ValueError, match="libero_spatial, libero_object, libero_goal, libero_10"):
        libero_setup.canonical_suite("libero_100")


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        libero_setup.resolve_task("goal", "make_coffee")
    assert "open_the_middle_drawer_of_the_cabinet" in str(err.value)
    with pytest.raises(ValueError, match=r"valid indices 0\.\.9"):
        libero_setup.resolve_task("goal", 10)


# ------------------------------------------------------------ real simulator
pytestmark_sim = pytest.mark.sim


@functools.cache
def env_for(suite: str):
    from ptrim.envs.libero import LiberoEnv

    return LiberoEnv(suite, 0, image_size=64, cameras=("agentview", "wrist"), max_steps=30)


def _paint_gripper_red(env) -> None:
    m = env.sim.model
    for i in range(m.ngeom):
        name = m.geom_id2name(i) or ""
        if name.startswith("gripper0_") and name.endswith("visual"):
            m.geom_rgba[i] = [1, 0, 0, 1]
            m.geom_matid[i] = -1


def _red_rows(img: np.ndarray) -> np.ndarray:
    red = (img[..., 0] > 150) & (img[..., 1] < 60) & (img[..., 2] < 60)
    return np.nonzero(red)[0]


@pytest.mark.sim
@pytest.mark.parametrize("suite", libero_setup.SUITES)
def test_every_suite_builds_resets_steps_and_renders_upright(suite):
    env = env_for(suite)
    assert env.num_init_states() == 50
    assert env.instruction and env.instruction == env.instruction.lower()
    env.reset(0)
    for _ in range(3):
        assert env.step(HOLD) is False
    obs = env.observe()
    assert set(obs["images"]) == {"agentview", "wrist"}
    for img in obs["images"].values():
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and img.std() > 5
    assert obs["proprio"].shape == (8,) and obs["proprio"].dtype == np.float32
    assert obs["instruction"] == env.instruction
    # upright: the gripper is near the top of the agent view and at the bottom of the wrist view
    _paint_gripper_red(env)
    obs = env.observe()
    top, wrist = _red_rows(obs["images"]["agentview"]), _red_rows(obs["images"]["wrist"])
    assert len(top) > 0 and top.mean() < 64 * 0.3, top
    assert len(wrist) > 0 and wrist.mean() > 64 * 0.6, wrist


@pytest.mark.sim
def test_reset_reproduces_trajectories_bit_for_bit():
    env = env_for("libero_object")
    actions = np.random.default_rng(0).uniform(-1, 1, (25, 7))

    def run(i):
        env.reset(i)
        for a in actions:
            env.step(a)
        return env.get_state()

    first = run(0)
    run(7)  # another episode in between must not leak into the next one
    np.testing.assert_array_equal(first, run(0))
    assert not np.array_equal(first, run(7))


@pytest.mark.sim
def test_real_episode_to_the_step_limit_is_accounted_exactly():
    env = env_for("libero_object")
    batch = EnvBatch([functools.partial(lambda e: e, env)])
    [ep] = rollout(ConstantPolicy(10, HOLD), batch, [Job(0, 2, 8, 0)])
    assert not ep.success and ep.steps == env.max_steps == 30
    assert [c.executed for c in ep.calls] == [8, 8, 8, 6]
    assert ep.task == env.task and ep.init_index == 2 and ep.control_hz == 20
    assert ep.render_time_s > 0 and ep.env_time_s > 0


@pytest.mark.sim
def test_real_success_is_detected_on_the_step_it_happens():
    """Drop the soup above the basket: the scripted policy holds still; success comes from
    physics after a few steps, and the rollout must stop exactly there."""
    from ptrim.envs.libero import LiberoEnv

    env = LiberoEnv("object", 0, image_size=32, cameras=("agentview",), settle_steps=0)
    env.reset(0)
    basket = env.sim.data.get_joint_qpos("basket_1_joint0")[:3]
    env.sim.data.set_joint_qpos("alphabet_soup_1_joint0", np.r_[basket + [0, 0, 0.6], 1, 0, 0, 0])
    env.sim.forward()
    env._init_states = env.get_state()[None]  # make it initial state 0
    env.reset(0)
    k = next(t for t in range(1, 60) if env.step(HOLD))  # ground truth by hand
    assert k > 3
    batch = EnvBatch([functools.partial(lambda e: e, env)])
    [ep] = rollout(ConstantPolicy(5, HOLD), batch, [Job(0, 0, 3, 0)])
    assert ep.success and ep.success_step == ep.steps == k
    assert ep.n_calls == -(-k // 3)
    assert ep.calls[-1].executed == k - 3 * (ep.n_calls - 1)
    env.close()


@pytest.mark.sim
def test_subprocess_workers_give_the_same_episodes_as_inline():
    from ptrim.envs.libero import LiberoEnv

    factory = functools.partial(
        LiberoEnv, "libero_object", 1, image_size=32, cameras=("agentview",), max_steps=20
    )
    policy = ConstantPolicy(6, np.array([0.3, -0.2, -0.5, 0, 0, 0.1, -1]), jitter=0.5)
    jobs = [Job(0, 0, 4, 11), Job(1, 3, 6, 12), Job(0, 5, 2, 13)]
    out = {}
    for workers in ("inline", "subprocess"):
        with EnvBatch([factory, factory], workers=workers) as batch:
            out[workers] = rollout(policy, batch, jobs)
    for a, b in zip(out["inline"], out["subprocess"], strict=True):
        assert (a.steps, a.n_calls, a.success) == (b.steps, b.n_calls, b.success)
        for ca, cb in zip(a.calls, b.calls, strict=True):
            np.testing.assert_array_equal(ca.plan, cb.plan)


def test_unknown_camera_is_rejected():
    from ptrim.envs.libero import LiberoEnv

    with pytest.raises(ValueError, match="valid: \\['agentview', 'wrist'\\]"):
        LiberoEnv("object", 0, cameras=("top",))
