import functools

import numpy as np
import pytest

from ptrim.envs.batch import EnvBatch
from ptrim.rollout import ChunkBroker, Job, make_jobs, rollout
from tests.fakes import CountingEnv, NoisePolicy


def batch_of(*envs):
    return EnvBatch([functools.partial(lambda e: e, e) for e in envs])


def test_success_at_37_with_h8_takes_5_calls_of_mean_length_7_4():
    env = CountingEnv({0: 37})
    [ep] = rollout(NoisePolicy(16), batch_of(env), [Job(env=0, init_state=0, exec_len=8, seed=1)])
    assert ep.success and ep.success_step == 37 and ep.steps == 37
    assert [c.executed for c in ep.calls] == [8, 8, 8, 8, 5]
    assert ep.n_calls == 5
    assert ep.mean_exec_len == pytest.approx(7.4)
    assert [c.step for c in ep.calls] == [0, 8, 16, 24, 32]
    # the policy saw observations rendered exactly at the re-planning steps
    assert env.observed_at == [0, 8, 16, 24, 32]


def test_failure_runs_to_the_step_limit():
    env = CountingEnv({}, max_steps=50)
    [ep] = rollout(NoisePolicy(8), batch_of(env), [Job(0, 0, 8, 0)])
    assert not ep.success and ep.success_step is None and ep.steps == 50
    assert [c.executed for c in ep.calls] == [8] * 6 + [2]


def test_executed_actions_are_the_first_h_of_each_plan():
    env = CountingEnv({0: 10})
    [ep] = rollout(NoisePolicy(5), batch_of(env), [Job(0, 0, 3, 7)])
    expected = np.concatenate([c.plan[: c.executed] for c in ep.calls])
    np.testing.assert_array_equal(np.stack(env.actions), expected)
    assert [c.executed for c in ep.calls] == [3, 3, 3, 1]


def test_h_equal_H_and_h_1():
    env = CountingEnv({0: 9, 1: 9})
    eps = rollout(NoisePolicy(4), batch_of(env), [Job(0, 0, 4, 0), Job(0, 1, 1, 0)])
    assert [c.executed for c in eps[0].calls] == [4, 4, 1]
    assert eps[1].n_calls == 9 and eps[1].mean_exec_len == 1


def test_exec_len_longer_than_plan_is_rejected():
    with pytest.raises(ValueError, match="exec_len"):
        rollout(NoisePolicy(4), batch_of(CountingEnv({})), [Job(0, 0, 5, 0)])


def test_per_env_execution_lengths_and_no_calls_for_finished_envs():
    a, b = CountingEnv({0: 6}), CountingEnv({0: 30})
    policy = NoisePolicy(10)
    eps = rollout(policy, batch_of(a, b), [Job(0, 0, 2, 0), Job(1, 0, 10, 1)])
    assert [e.n_calls for e in eps] == [3, 3]
    # both envs plan at step 0 together; afterwards only env 0 at steps 2, 4; env 1 at 10, 20
    assert policy.batch_sizes == [2, 1, 1, 1, 1]
    assert sum(policy.batch_sizes) == sum(e.n_calls for e in eps)


def test_outcomes_do_not_depend_on_batching():
    solve = {s: 5 + 3 * s for s in range(6)}
    jobs1 = make_jobs(1, range(6), [2, 4], seed=3)
    jobs3 = make_jobs(3, range(6), [2, 4], seed=3)
    assert [(j.init_state, j.exec_len, j.seed) for j in jobs1] == [
        (j.init_state, j.exec_len, j.seed) for j in jobs3
    ]
    eps1 = rollout(NoisePolicy(6), batch_of(CountingEnv(solve)), jobs1)
    envs3 = [CountingEnv(solve) for _ in range(3)]
    eps3 = rollout(NoisePolicy(6), batch_of(*envs3), jobs3)
    for e1, e3 in zip(eps1, eps3, strict=True):
        assert (e1.init_index, e1.exec_len, e1.steps, e1.n_calls) == (
            e3.init_index,
            e3.exec_len,
            e3.steps,
            e3.n_calls,
        )
        for c1, c3 in zip(e1.calls, e3.calls, strict=True):
            np.testing.assert_array_equal(c1.plan, c3.plan)


def test_a_env_runs_its_jobs_in_order_and_records_come_back_in_job_order():
    env = CountingEnv({0: 3, 1: 4, 2: 5})
    jobs = [Job(0, 2, 1, 0), Job(0, 0, 1, 0), Job(0, 1, 1, 0)]
    eps = rollout(NoisePolicy(2), batch_of(env), jobs)
    assert [e.init_index for e in eps] == [2, 0, 1]
    assert [e.steps for e in eps] == [5, 3, 4]


def test_keep_obs_and_replay_are_recorded():
    env = CountingEnv({0: 4})
    [ep] = rollout(NoisePolicy(2), batch_of(env), [Job(0, 0, 2, 0)], keep_obs=True)
    assert [c.obs["proprio"][0] for c in ep.calls] == [0, 2]
    np.testing.assert_array_equal(ep.calls[0].replay["noise"], ep.calls[0].plan)


def test_chunk_broker():
    from ptrim.episode import CallRecord

    b = ChunkBroker(2)
    assert b.empty
    rec = CallRecord(step=0, plan=np.zeros((3, 1)), executed=0, latency_s=0)
    b.load(np.arange(3.0)[:, None], rec)
    assert b.next_action()[0] == 0 and b.next_action()[0] == 1 and b.empty
    with pytest.raises(RuntimeError):
        b.next_action()
    assert rec.executed == 2
    with pytest.raises(ValueError):
        ChunkBroker(0)
