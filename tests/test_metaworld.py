"""Meta-World adapter: builds, resets to a fixed configuration deterministically, steps,
renders upright, restores states; Meta-World's scripted expert solves a task through it."""

import numpy as np
import pytest

pytestmark = pytest.mark.sim

mw = pytest.importorskip("ptrim.envs.metaworld")


@pytest.fixture(scope="module")
def env():
    e = mw.MetaWorldEnv("metaworld_mt10", "pick-place-v3", cameras=("agentview", "wrist"))
    yield e
    e.close()


def expert_run(env, init, limit=100):
    from metaworld.policies import SawyerPickPlaceV3Policy

    policy = SawyerPickPlaceV3Policy()
    env.reset(init)
    for t in range(1, limit + 1):
        if env.step(policy.get_action(env.state_obs())):
            return t
    return None


def test_suites_tasks_and_instructions():
    names = mw.task_names("metaworld_mt10")
    assert len(names) == 10 and list(names) == sorted(names) and "pick-place-v3" in names
    assert len(mw.task_names("metaworld_mt50")) == 50
    assert set(mw.task_names("metaworld_mt50")) <= set(mw.INSTRUCTIONS)
    assert mw.resolve_task("metaworld_mt10", 5) == names[5]
    with pytest.raises(ValueError, match="not a metaworld_mt10 task"):
        mw.resolve_task("metaworld_mt10", "pick-place-v2")
    with pytest.raises(ValueError, match="valid"):
        mw.task_names("metaworld_mt1")


def test_reset_is_deterministic_and_configurations_differ(env):
    env.reset(3)
    first = env.state_obs().copy()
    env.step(np.array([0.5, 0.0, 0.0, 1.0]))
    env.reset(3)
    np.testing.assert_array_equal(env.state_obs(), first)
    env.reset(4)
    assert not np.allclose(env.state_obs()[4:7], first[4:7])  # another puck position
    assert env.num_init_states() == 50


def test_observation_and_state_round_trip(env):
    env.reset(0)
    obs = env.observe()
    assert set(obs["images"]) == {"agentview", "wrist"}
    for img in obs["images"].values():
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8 and img.std() > 5
    assert obs["proprio"].shape == (4,) and obs["proprio"].dtype == np.float32
    assert obs["instruction"] == "pick up the puck and place it at the goal"
    assert env.control_hz == pytest.approx(80.0)
    # the corner camera is mounted upside down: the image is the render turned 180 degrees
    raw = env._env.render()
    np.testing.assert_array_equal(obs["images"]["agentview"], raw[::-1, ::-1])
    state = env.get_state()
    env.step(np.array([1.0, 0.0, 0.0, -1.0]))
    env.set_state(state)
    np.testing.assert_array_equal(env.observe()["images"]["wrist"], obs["images"]["wrist"])


def test_the_scripted_expert_solves_pick_place_within_the_step_limit(env):
    steps = [expert_run(env, i) for i in range(3)]
    assert all(s is not None and s <= 100 for s in steps), steps
    assert expert_run(env, 0) == steps[0]  # same configuration, same episode


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "dropped"])
def test_an_env_let_go_of_does_not_blank_the_next_ones_images(closed):
    """A Meta-World env closed or dropped after another was built must free its GL objects in
    its own context: freed in the current one (the newer env's), the newer env renders black."""
    import gc

    first = mw.MetaWorldEnv("metaworld_mt10", "reach-v3", image_size=64)
    first.reset(0)
    assert first.observe()["images"]["agentview"].mean() > 20
    if closed:
        first.close()
    second = mw.MetaWorldEnv("metaworld_mt10", "push-v3", image_size=64)
    del first
    gc.collect()
    second.reset(0)
    try:
        assert second.observe()["images"]["agentview"].mean() > 20
    finally:
        second.close()
