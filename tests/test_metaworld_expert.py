"""Meta-World's scripted experts through the adapter, at redundancy 0 and with injected events."""

import numpy as np
import pytest

pytestmark = pytest.mark.sim

mw = pytest.importorskip("ptrim.envs.metaworld")
from ptrim.experts import metaworld as experts  # noqa: E402


def test_every_mt50_task_has_a_scripted_expert():
    for task in mw.task_names("metaworld_mt50"):
        assert hasattr(experts.scripted_policy(task), "get_action")
    with pytest.raises(ValueError, match="no scripted policy for 'pick-place-v2'"):
        experts.scripted_policy("pick-place-v2")


def run(env, expert, init, limit=150):
    env.reset(init)
    for t in range(1, limit + 1):
        if env.step(expert.act(env.state_obs(), t - 1)):
            expert._finish(t)
            return t
    return None


@pytest.fixture(scope="module")
def env():
    e = mw.MetaWorldEnv("metaworld_mt10", "pick-place-v3")
    yield e
    e.close()


def test_level_zero_is_the_scripted_policy(env):
    expert = experts.MetaWorldExpert("pick-place-v3", 0.0, np.random.default_rng(0), 70)
    raw = experts.scripted_policy("pick-place-v3")
    env.reset(2)
    for t in range(30):
        s = env.state_obs()
        a = expert.act(s, t)
        np.testing.assert_allclose(a, np.clip(raw.get_action(s), -1, 1))
        env.step(a)
    assert expert.events == []


def test_redundant_demos_are_longer_record_their_events_and_still_succeed(env):
    lengths, redundant, kinds = [], [], set()
    for i in range(6):
        lengths.append(
            run(env, experts.MetaWorldExpert("pick-place-v3", 0.0, np.random.default_rng(i), 70), i)
        )
        e = experts.MetaWorldExpert("pick-place-v3", 0.9, np.random.default_rng(i), 70)
        redundant.append(run(env, e, i))
        kinds |= {ev["kind"] for ev in e.events}
        assert all(ev["step"] < 70 and ev["steps"] > 0 for ev in e.events)
    assert None not in lengths and sum(s is not None for s in redundant) >= 5, redundant
    ok = [(a, b) for a, b in zip(lengths, redundant, strict=True) if b is not None]
    assert np.mean([b for _, b in ok]) > 1.2 * np.mean([a for a, _ in ok])
    assert kinds >= {"hesitation", "detour"}, kinds
