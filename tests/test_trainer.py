"""GRPO trainer: groups, filtering, chunk credit, the executed slice, what trains, bit-exact
resume, the log; one real-LIBERO smoke run (``sim``)."""

from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ptrim import bc, config, grpo, rewards, stages, trainer
from ptrim.curriculum import PatternCurriculum
from ptrim.envs.batch import EnvPool
from ptrim.episode import EpisodeRecord
from tests.fakes import GaussianPolicy, ReachEnv

PARAMS = Path(__file__).resolve().parent.parent / "params.yaml"
SUITE = "libero_object"
TASKS = ["reach_a", "reach_b"]


pytestmark = pytest.mark.usefixtures("one_thread")


def cfg_with(*overrides: str) -> config.Config:
    base = [
        "rl.group_size=4",
        "rl.groups_per_iter=2",
        "rl.init_states=3",
        "rl.micro_batch=8",
        "rl.lr.oft=0.01",
        "rl.stage1.iterations=3",
        "rl.stage2.iterations=3",
        "rollout.num_envs=4",
    ]
    return config.load("smoke", [*base, *overrides], PARAMS)


def reach(goals=None, **kwargs):
    """An env factory: ReachEnv for every task (init states 0 and 2 reachable, 1 never)."""
    goals = {0: 1.0, 2: 2.0} if goals is None else goals
    built: list[ReachEnv] = []

    def factory(task: str) -> ReachEnv:
        env = ReachEnv(goals, max_steps=kwargs.get("max_steps", 16), task=task, **_shape(kwargs))
        built.append(env)
        return env

    factory.built = built
    return factory


def _shape(kwargs):
    return {k: v for k, v in kwargs.items() if k != "max_steps"}


def stage1_trainer(cfg, out_dir, policy=None, factory=None, live=None, sr_base=0.5, start_h=2):
    policy = policy if policy is not None else GaussianPolicy(plan_horizon=8)
    s1 = cfg.rl.stage1
    stage = stages.Stage1(
        stages.make_curriculum(s1, policy.plan_horizon, start_h=start_h, sr_base=sr_base),
        h_base=s1.h_base["oft"],
        lam_plan=s1.lam_plan,
        sr_base=sr_base,
        tolerance=s1.horizon_tolerance,
    )
    return trainer.GRPOTrainer(
        policy,
        stage,
        cfg.rl,
        family="oft",
        tasks=TASKS,
        env_factory=factory or reach(),
        iterations=s1.iterations,
        out_dir=out_dir,
        seed=cfg.seed,
        num_envs=cfg.rollout.num_envs,
        live=live,
        progress=False,
    )


def first_iteration(tr: trainer.GRPOTrainer):
    clock = trainer.Stopwatch()
    tr.rollouts.sync(tr.policy)
    groups = tr.draw_groups(0)
    episodes = tr.interact(groups, 0, clock)
    return groups, episodes, tr.score(groups, episodes, 0, clock)


# ------------------------------------------------------------------------------ groups
def test_group_starts_cover_every_pair_once_per_epoch():
    seen = [
        p
        for it in range(3)
        for p in trainer.group_starts(2, 3, 2, seed=5, stage="stage1", iteration=it)
    ]
    assert sorted(seen) == [(t, i) for t in range(2) for i in range(3)]
    again = trainer.group_starts(2, 3, 2, seed=5, stage="stage1", iteration=1)
    assert again == seen[2:4]  # a function of (seed, stage, iteration) only
    assert trainer.group_starts(2, 3, 6, seed=5, stage="stage2", iteration=0) != seen


def test_ladder_lengths_from_acceptance_ratios():
    assert stages.ladder_lengths((0.25, 0.5, 0.75), 20) == [5, 10, 15]
    assert stages.ladder_lengths((0.25, 0.5, 0.75, 1.0), 16) == [4, 8, 12, 16]
    assert stages.ladder_lengths((0.1, 0.5), 1) == [1]


def test_a_group_shares_task_and_initial_state_and_follows_the_curriculum(tmp_path):
    factory = reach()
    tr = stage1_trainer(cfg_with(), tmp_path, factory=factory)
    groups, episodes, _ = first_iteration(tr)
    G = tr.rl.group_size
    assert len(groups) == 2 and len(episodes) == 2 * G
    ladder = stages.ladder_lengths(tr.rl.stage1.ladder, 8)
    for g, group in enumerate(groups):
        members = episodes[g * G : (g + 1) * G]
        assert {(e.task, e.init_index) for e in members} == {(group.task, group.init_state)}
        assert [e.exec_len for e in members] == list(group.exec_lens)
        assert list(group.exec_lens) == PatternCurriculum(ladder).assign(G)
        seeds = [trainer.sample_seed(tr.seed, "stage1", 0, g, j) for j in range(G)]
        assert [e.seed for e in members] == list(group.seeds) == seeds
    assert len({e.seed for e in episodes}) == len(episodes)  # fresh noise for every rollout
    # every environment built for a group's task was reset to that group's initial state only
    for env in factory.built:
        inits = {gr.init_state for gr in groups if gr.task == env.task}
        assert env.resets and set(env.resets) <= inits


def test_all_fail_groups_are_dropped_and_advantages_reach_every_chunk(tmp_path):
    cfg = cfg_with("rl.init_states=2", "rl.groups_per_iter=2")
    tr = stage1_trainer(cfg, tmp_path, factory=reach({0: 0.5}))
    tr.tasks = TASKS[:1]  # one task, both initial states: init 1 can never succeed
    groups, episodes, scores = first_iteration(tr)
    assert sorted(g.init_state for g in groups) == [0, 1]
    for g, group in enumerate(groups):
        members = slice(g * 4, (g + 1) * 4)
        if group.init_state == 1:
            assert not scores.arrays["success"][members].any()
            assert not scores.keep[members].any() and (scores.advantage[members] == 0).all()
        else:
            assert scores.arrays["success"][members].any()  # the precondition of the test
            assert scores.keep[members].all() and (scores.advantage[members] != 0).any()
    chunks = grpo.chunks_of(episodes, scores.advantage, scores.keep)
    kept = [(i, ep) for i, ep in enumerate(episodes) if scores.keep[i]]
    assert len(chunks) == sum(ep.n_calls for _, ep in kept)
    position = 0
    for i, ep in kept:
        mine = chunks[position : position + ep.n_calls]
        position += ep.n_calls
        assert all(c.advantage == scores.advantage[i] for c in mine)  # up to the finishing one
        assert [c.executed for c in mine] == [c.executed for c in ep.calls]
        assert sum(c.executed for c in mine) == ep.steps  # the last chunk may be cut short
    # r_max comes from the whole batch; the dropped group still had its rewards computed
    assert scores.terms.r_max == 1.0 and len(scores.terms.total) == len(episodes)


def test_env_pool_keeps_batches_open_and_closes_the_least_recently_used():
    closed = []

    class Env(ReachEnv):
        def close(self):
            closed.append(self.task)

    built = []
    pool = EnvPool(lambda task: built.append(task) or Env({}, task=task), 2, "inline", 4)
    a, build_s = pool.get("a")
    assert len(a) == 2 and build_s > 0 and built == ["a", "a"]
    pool.get("b")
    assert pool.get("a") == (a, 0.0) and built == ["a", "a", "b", "b"]  # reused, not rebuilt
    pool.get("c")  # 6 > 4 envs: "b", used least recently, goes
    assert closed == ["b", "b"] and built[-2:] == ["c", "c"]
    pool.close()
    assert sorted(closed) == ["a", "a", "b", "b", "c", "c"]


# ------------------------------------------------------------------------------ the loss
def _loss_and_grads(policy, chunks):
    policy.zero_grad()
    logp = grpo.chunk_log_probs(policy, chunks)
    old = torch.tensor([c.logp_old for c in chunks])
    adv = torch.tensor([c.advantage for c in chunks])
    loss, _ = rewards.ppo_loss(logp, old, adv, 0.2, 0.28, 3.0)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in policy.trainable_in_rl()]


def test_only_the_executed_slice_enters_the_loss(tmp_path):
    policy = GaussianPolicy(plan_horizon=8)
    tr = stage1_trainer(cfg_with(), tmp_path, policy=policy)
    _, episodes, scores = first_iteration(tr)
    chunks = grpo.chunks_of(episodes, scores.advantage, scores.keep)
    assert any(c.executed < 8 for c in chunks)
    policy.scored_masks.clear()
    loss, grads = _loss_and_grads(policy, chunks)
    [mask] = policy.scored_masks
    assert mask.sum(1).tolist() == [c.executed for c in chunks]
    assert all(mask[r, : c.executed].all() for r, c in enumerate(chunks))

    # rewrite every action that never ran: plan, sampled value and its recorded log-prob
    changed = copy.deepcopy(episodes)
    for ep in changed:
        for call in ep.calls:
            call.plan[call.executed :] = 99.0
            call.replay["z"][call.executed :] = 99.0
            call.replay["log_prob"][call.executed :] = 1e6
    chunks2 = grpo.chunks_of(changed, scores.advantage, scores.keep)
    assert [c.logp_old for c in chunks2] == [c.logp_old for c in chunks]
    loss2, grads2 = _loss_and_grads(policy, chunks2)
    assert torch.equal(loss, loss2) and all(map(torch.equal, grads, grads2))

    # an executed action does count
    changed[0].calls[0].replay["z"][0] += 0.5
    loss3, _ = _loss_and_grads(policy, grpo.chunks_of(changed, scores.advantage, scores.keep))
    assert not torch.equal(loss, loss3)


@pytest.mark.parametrize("family", ["pi05", "gr00t"])
def test_one_iteration_changes_only_trainable_in_rl_parameters(tmp_path, family):
    from ptrim.models import build

    torch.manual_seed(0)
    policy = build(family, "micro", 8, image_size=16, cameras=("agentview",))
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    trainable = {id(p) for p in policy.trainable_in_rl()}
    names = {n for n, p in policy.named_parameters() if id(p) in trainable}
    assert names and len(names) < len(before)  # these families freeze a part in RL
    cfg = cfg_with(
        "rl.stage1.iterations=1",
        "rl.lr.pi05=1e-3",
        "rl.lr.gr00t=1e-3",
        "rl.groups_per_iter=1",
        "rl.epochs=1",  # one on-policy optimizer step: its PPO ratio is exactly 1
        "rl.minibatches=1",
    )
    factory = reach({0: 0.3, 1: 0.3, 2: 0.3}, image_size=16, proprio_dim=8, action_dim=7)
    s1 = cfg.rl.stage1
    stage = stages.Stage1(
        stages.make_curriculum(s1, 8, start_h=None, sr_base=0.5),
        h_base=s1.h_base[family],
        lam_plan=1.0,
        sr_base=0.5,
        tolerance=0.05,
    )
    tr = trainer.GRPOTrainer(
        policy,
        stage,
        cfg.rl,
        family=family,
        tasks=TASKS[:1],
        env_factory=factory,
        iterations=1,
        out_dir=tmp_path,
        seed=0,
        num_envs=4,
        progress=False,
    )
    [entry] = tr.run()["history"]
    assert entry["groups/kept"] == 1 and entry["train/optimizer_steps"] == 1
    # the first (only) minibatch scores the plans exactly as they were sampled: ratio 1
    assert entry["train/ratio_mean"] == pytest.approx(1.0, abs=1e-3)
    assert entry["train/clip_frac"] == 0.0 and entry["policy/sde_noise"] == 0.5
    after = policy.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and changed <= names
    assert all(p.requires_grad for p in policy.parameters())  # the freeze was temporary


# ------------------------------------------------------------------------------ stage 2
def test_shortcut_check_replays_candidates_and_withholds_unreproducible_ones():
    check = stages.ShortcutCheck(gamma=0.25, rho=0.5, slack=0.1, replays=3)
    arrays = {
        "success": np.array([True, True, True, True, False]),
        "t": np.array([10, 30, 32, 34, -1]),  # μ = 26.5: only t = 10 < 0.75 μ is a candidate
        "group": np.zeros(5, dtype=int),
    }
    calls = []

    def run(indices, repeats):
        calls.append((list(indices), repeats))
        ep = EpisodeRecord("fake", "s", "t", 0, 0, 8, 4, 50, 10.0)
        ok = EpisodeRecord("fake", "s", "t", 0, 0, 8, 4, 50, 10.0, True, 11, 11)
        return [[ok, ep, ep]]  # 1 of 3 replays within 1.1 · 10 steps: fewer than 0.5 · 3

    withheld, info = check.withheld(arrays, np.ones(5, dtype=bool), run)
    assert calls == [([0], 3)]
    assert withheld.tolist() == [True, False, False, False, False]
    assert info == {"shortcut/candidates": 1.0, "shortcut/replays": 3.0}
    # candidates of dropped groups are not replayed
    none, _ = check.withheld(arrays, np.zeros(5, dtype=bool), run)
    assert not none.any() and len(calls) == 1


def test_stage2_runs_every_member_at_the_horizon_and_replays_from_the_same_state(tmp_path):
    cfg = cfg_with("rl.stage2.shortcut_check=true", "rl.stage2.iterations=1")
    policy = GaussianPolicy(plan_horizon=8)
    result = trainer.train_stage2(
        policy,
        cfg,
        SUITE,
        tmp_path,
        model_name="oft",
        horizon=3,
        tasks=TASKS,
        env_factory=reach(),
        progress=False,
    )
    [entry] = result["history"]
    assert result["horizon"] == 3 and entry["stage2/horizon"] == 3
    assert set(k for k in entry if k.startswith("success/h")) == {"success/h3"}
    assert entry["reward/r_plan"] == 0 and "shortcut/candidates" in entry

    tr = trainer.GRPOTrainer(
        GaussianPolicy(plan_horizon=8),
        stages.Stage2(3, T_max=150, lam_eff=0.9, lam_stab=0.15, sigma_floor=5, use_stability=True),
        cfg.rl,
        family="oft",
        tasks=TASKS,
        env_factory=reach(),
        iterations=1,
        out_dir=tmp_path / "b",
        seed=0,
        progress=False,
    )
    groups, episodes, _ = first_iteration(tr)
    replays = tr.replay(groups, episodes, 0, trainer.Stopwatch(), [1, 6], 2)
    for i, reps in zip([1, 6], replays, strict=True):
        assert [(r.task, r.init_index, r.exec_len) for r in reps] == [
            (episodes[i].task, episodes[i].init_index, 3)
        ] * 2
        assert [r.seed for r in reps] == [trainer.replay_seed(0, "stage2", 0, i, r) for r in (0, 1)]
        assert all(c.obs is None for r in reps for c in r.calls)  # replays are not trained on


def test_stage2_reports_successes_over_its_step_budget_and_warns_once():
    s2 = stages.Stage2(5, T_max=100, lam_eff=0.9, lam_stab=0.15, sigma_floor=5, use_stability=True)
    assert "stage2/over_budget" not in s2.metrics()  # nothing observed yet
    fast = {"success": np.array([1, 1, 0, 1]), "t": np.array([60, 99, 200, 100])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.observe(fast)  # 1 of 3 successes at t >= T_max: no warning
    assert s2.metrics()["stage2/over_budget"] == pytest.approx(1 / 3)
    slow = {"success": np.array([1, 1, 1, 0]), "t": np.array([120, 100, 90, 200])}
    with pytest.warns(UserWarning, match=r"67% of the successes took >= T_max = 100 steps"):
        s2.observe(slow)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2.observe(slow)  # warned once per run
    s2.observe({"success": np.zeros(4, bool), "t": np.full(4, 200)})
    assert "stage2/over_budget" not in s2.metrics()  # no success: undefined, not logged


# ------------------------------------------------------------------------------ resume
class Killed(RuntimeError):
    pass


def _run(stage, cfg, out_dir, **kwargs):
    common = dict(tasks=TASKS, env_factory=reach(), progress=False, **kwargs)
    policy = GaussianPolicy(plan_horizon=8)
    if stage == "stage1":
        return policy, trainer.train_stage1(
            policy, cfg, SUITE, out_dir, model_name="oft", sr_base=0.5, start_h=2, **common
        )
    return policy, trainer.train_stage2(
        policy, cfg, SUITE, out_dir, model_name="oft", horizon=4, **common
    )


def _without_times(history):
    return [
        {k: v for k, v in e.items() if not k.startswith("time/") and k != "wall_s"} for e in history
    ]


@pytest.mark.parametrize(
    ("stage", "extra"),
    [
        ("stage1", ["rl.stage1.curriculum=frontier", "rl.stage1.window=2",
                    "rl.stage1.frontier_step=2"]),
        ("stage2", ["rl.stage2.shortcut_check=true", "rl.minibatches=2", "rl.epochs=2"]),
    ],  # fmt: skip
)  # fmt: skip
def test_killed_and_restarted_run_ends_bit_identical(tmp_path, monkeypatch, stage, extra):
    real_update, updates = grpo.ppo_update, []

    def update_then_die(*args, **kwargs):
        updates.append(1)
        if len(updates) == 4:  # inside iteration 4's update, after checkpoint iter_2
            raise Killed
        return real_update(*args, **kwargs)

    cfg4 = cfg_with("rl.checkpoint_every=2", "rl.kl_coef=0.05", f"rl.{stage}.iterations=4", *extra)
    _, ref4 = _run(stage, cfg4, tmp_path / "ref4")  # uninterrupted
    monkeypatch.setattr(grpo, "ppo_update", update_then_die)
    with pytest.raises(Killed):
        _run(stage, cfg4, tmp_path / "run")
    (tmp_path / "run" / "checkpoints" / ".tmp_iter_3").mkdir()  # as if killed while saving
    monkeypatch.setattr(grpo, "ppo_update", real_update)
    policy, out = _run(stage, cfg4, tmp_path / "run")

    assert out["resumed_from"] == 2 and out["finished"] and out["iteration"] == 4
    assert [d.name for d in trainer.checkpoint_dirs(tmp_path / "run")] == ["iter_2", "iter_4"]
    a, b = tmp_path / "ref4" / "checkpoints" / "iter_4", tmp_path / "run" / "checkpoints" / "iter_4"
    for name in ("model.safetensors", "optimizer.safetensors"):
        ta, tb = load_file(a / name), load_file(b / name)
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    sa, sb = (json.loads((d / "trainer_state.json").read_text()) for d in (a, b))
    assert sa["stage_state"] == sb["stage_state"]
    assert _without_times(out["history"]) == _without_times(ref4["history"])
    assert json.loads((tmp_path / "run" / "history.json").read_text()) == out["history"]
    assert not torch.equal(GaussianPolicy(plan_horizon=8).head.weight, policy.head.weight)
    # the state carried over is not trivial: h* moved, shortcut candidates were replayed
    assert out.get("frontier_history") or any(e["shortcut/candidates"] for e in out["history"])


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    _run("stage1", cfg_with("rl.stage1.iterations=1"), tmp_path)
    with pytest.raises(ValueError, match=r"seed: 0 -> 3"):
        _run("stage1", cfg_with("rl.stage1.iterations=2", "seed=3"), tmp_path)


def test_a_checkpoint_from_other_input_weights_is_refused_or_restarted(tmp_path):
    """A retrained BC policy (other input weights) must never resume the old RL run that DVC
    kept in the stage's directory: refused, or with ``restart_stale`` removed and run afresh,
    the same as in a clean directory."""
    cfg = cfg_with("rl.stage1.iterations=2")
    _run("stage1", cfg, tmp_path / "old")  # finished: a resume would do nothing

    def retrained():
        return GaussianPolicy(plan_horizon=8, seed=1)

    def stage1(policy, out_dir, **kwargs):
        return trainer.train_stage1(
            policy, cfg, SUITE, out_dir, model_name="oft", sr_base=0.5, start_h=2,
            tasks=TASKS, env_factory=reach(), progress=False, **kwargs,
        )  # fmt: skip

    with pytest.raises(bc.StaleCheckpointError, match="start_weights"):
        stage1(retrained(), tmp_path / "old")
    clean = stage1(retrained(), tmp_path / "clean")
    again = stage1(retrained(), tmp_path / "old", restart_stale=True)
    assert again["resumed_from"] is None and again["finished"] and again["iteration"] == 2
    assert _without_times(again["history"]) == _without_times(clean["history"])
    a, b = (
        load_file(d / "final" / "model.safetensors") for d in (tmp_path / "clean", tmp_path / "old")
    )
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------ the log
class FakeLive:
    def __init__(self) -> None:
        self.step = 0
        self.logged: list[tuple[int, str, float]] = []

    def log_metric(self, name: str, value: float) -> None:
        self.logged.append((self.step, name, value))

    def next_step(self) -> None:
        self.step += 1


def test_history_holds_every_logged_term(tmp_path):
    cfg = cfg_with("rl.stage1.iterations=2", "rl.stage1.curriculum=frontier", "rl.kl_coef=0.1")
    live = FakeLive()
    result = trainer.train_stage1(
        GaussianPolicy(plan_horizon=8),
        cfg,
        SUITE,
        tmp_path,
        model_name="oft",
        sr_base=0.5,
        start_h=2,
        tasks=TASKS,
        env_factory=reach({0: 1.0, 1: 1.0, 2: 1.0}),
        live=live,
        progress=False,
    )
    history = result["history"]
    assert len(history) == 2
    for entry in history:
        step = int(entry["iteration"])
        logged = {name: v for s, name, v in live.logged if s == step}
        assert logged == {f"stage1/{k}": v for k, v in entry.items() if k != "iteration"}
    expected = {
        "success_rate", "steps_all", "calls", "exec_len", "wall_s",
        "reward/r_succ", "reward/r_plan", "reward/r_eff", "reward/penalty", "reward/total",
        "reward/r_max", "reward/withheld", "groups/total", "groups/kept", "groups/all_fail",
        "train/loss", "train/clip_frac", "train/dual_clip_frac", "train/approx_kl",
        "train/kl_ref", "train/grad_norm", "train/chunks", "policy/neg_logp", "policy/std",
        "stage1/frontier", "stage1/selected_h", "time/interact_s", "time/sim_s",
        "time/policy_s", "time/update_s", "time/env_build_s",
    }  # fmt: skip
    for entry in history:
        assert expected <= entry.keys()
        assert any(k.startswith("success/h") for k in entry)
        assert all(np.isfinite(v) for v in entry.values())
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["horizon"] == result["horizon"] and "history" not in saved
    assert (tmp_path / "final" / "model.safetensors").is_file()


# ------------------------------------------------------------------------------ real LIBERO
@pytest.mark.sim
def test_micro_policy_one_iteration_of_each_stage_on_libero(tmp_path):
    from ptrim import sft

    cfg = config.load(
        "smoke",
        [
            "libero.image_size=32",
            "libero.tasks=[0]",
            "libero.max_steps.libero_object=24",
            "models.pi05.plan_horizon=8",
            "rl.group_size=2",
            "rl.groups_per_iter=1",
            "rl.init_states=2",
            "rl.stage1.iterations=1",
            "rl.stage2.iterations=1",
            "rollout.num_envs=2",
        ],
        PARAMS,
    )
    policy = sft.build_policy(cfg, "pi05", "libero_object")
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    t0 = time.perf_counter()
    s1 = trainer.train_stage1(
        policy, cfg, SUITE, tmp_path / "s1", model_name="pi05", sr_base=0.0, progress=False
    )
    t1 = time.perf_counter()
    s2 = trainer.train_stage2(
        policy, cfg, SUITE, tmp_path / "s2", model_name="pi05", horizon=s1["horizon"] or 4,
        progress=False,
    )  # fmt: skip
    t2 = time.perf_counter()
    print(f"stage 1: {t1 - t0:.1f} s, stage 2: {t2 - t1:.1f} s")
    for out in (s1, s2):
        [entry] = out["history"]
        print({k: round(v, 3) for k, v in entry.items() if k.startswith("time/")})
        assert out["finished"] and entry["groups/total"] == 1 and entry["calls"] > 0
        assert entry["time/sim_s"] > 0 and entry["time/policy_s"] > 0
    assert list(s1["per_horizon_success"]) == ["2", "4"]  # the ladder [2, 4, 6], 2 members
    kept = s1["history"][0]["groups/kept"] + s2["history"][0]["groups/kept"]
    changed = any(not torch.equal(v, policy.state_dict()[k]) for k, v in before.items())
    assert changed == (kept > 0)  # an untrained policy rarely succeeds: then nothing moves


def test_explicit_per_model_ladders_override_the_ratios():
    from ptrim import config

    cfg = config.load("default", ["rl.stage1.ladders={gr00t: [10, 5, 15], oft: [8]}"])
    s1 = cfg.rl.stage1
    pick = dict(start_h=None, sr_base=0.9)
    assert stages.make_curriculum(s1, 16, model="gr00t", **pick).ladder == [5, 10, 15]
    assert stages.make_curriculum(s1, 8, model="oft", **pick).ladder == [8]
    assert stages.make_curriculum(s1, 20, model="pi05", **pick).ladder == [5, 10, 15]  # ratios
    with pytest.raises(ValueError, match=r"ladders.oft = \[8\]: every h must be <= H = 4"):
        stages.make_curriculum(s1, 4, model="oft", **pick)
    with pytest.raises(config.ConfigError, match="ladders"):
        config.load("default", ["rl.stage1.ladders={oft: [0]}"])


@pytest.mark.parametrize("family", ["oft", "pi05"])
def test_bf16_samples_and_scores_in_bf16_so_the_first_ratio_is_one(tmp_path, family):
    """``rl.precision: bf16``: the rollouts plan under bf16 autocast and the update scores under
    it too, so the first PPO ratio is 1 up to batch-shape rounding; scoring those same plans in
    fp32 moves it (the autocast is really on)."""
    import dataclasses

    from ptrim.models import build

    torch.manual_seed(0)
    policy = build(family, "micro", 8, image_size=16, cameras=("agentview",))
    factory = reach({0: 0.3, 1: 0.3, 2: 0.3}, image_size=16, proprio_dim=8, action_dim=7)
    cfg = cfg_with("rl.precision=bf16")
    tr = stage1_trainer(cfg, tmp_path, policy=policy, factory=factory)
    assert tr.settings.bf16
    _, episodes, scores = first_iteration(tr)
    chunks = grpo.chunks_of(episodes, scores.advantage, scores.keep)
    stats = {}
    for bf16 in (True, False):
        model = copy.deepcopy(policy)
        optimizer = torch.optim.AdamW(list(model.trainable_in_rl()), lr=0.0)
        with grpo.only_training(model, list(model.trainable_in_rl())):
            stats[bf16] = grpo.ppo_update(
                model,
                optimizer,
                chunks,
                dataclasses.replace(tr.settings, bf16=bf16),
                generator=torch.Generator().manual_seed(0),
            )
    assert stats[True]["ratio_mean"] == pytest.approx(1.0, abs=5e-3)
    assert abs(stats[False]["ratio_mean"] - 1.0) > abs(stats[True]["ratio_mean"] - 1.0)
    assert np.isfinite(stats[True]["loss"]) and np.isfinite(stats[True]["grad_norm"])


def test_kl_to_the_stage_input_is_logged_with_kl_coef_zero_and_grows_with_the_update(tmp_path):
    """The paper's setting (``kl_coef: 0``) still logs the drift: ``kl_ref`` is 0 for the
    untouched stage input and positive once an update with a real learning rate has moved the
    policy; ``step_kl`` measures that update itself (the pre-step ``approx_kl`` of a single
    minibatch is 0 by construction)."""
    import dataclasses

    cfg = cfg_with("rl.kl_coef=0")
    tr = stage1_trainer(cfg, tmp_path)
    assert tr.reference is not None and tr.reference is not tr.policy
    _, episodes, scores = first_iteration(tr)
    chunks = grpo.chunks_of(episodes, scores.advantage, scores.keep)
    assert chunks
    before = grpo.drift(tr.policy, chunks, tr.reference)
    assert before["kl_ref"] == pytest.approx(0.0, abs=1e-6)
    assert before["step_kl"] == pytest.approx(0.0, abs=1e-4)
    settings = dataclasses.replace(tr.settings, epochs=1, minibatches=1)
    for lr, moved in ((0.0, False), (1e-2, True)):
        model = copy.deepcopy(tr.policy)
        params = list(model.trainable_in_rl())
        optimizer = torch.optim.AdamW(params, lr=lr)
        with grpo.only_training(model, params):
            stats = grpo.ppo_update(
                model, optimizer, chunks, settings,
                generator=torch.Generator().manual_seed(0), reference=tr.reference,
            )  # fmt: skip
        assert stats["approx_kl"] == pytest.approx(0.0, abs=1e-4)
        assert (stats["kl_ref"] > 1e-6) == moved and (stats["step_kl"] > 1e-6) == moved
        if moved:
            assert stats["kl_ref"] == pytest.approx(stats["step_kl"], rel=0.2)


def test_an_update_without_any_advantage_takes_no_optimizer_step(tmp_path):
    """All advantages zero (e.g. every group all-success at OFT's single stage-1 horizon): the
    gradient is zero, but AdamW would still move the weights through its momentum and weight
    decay. The update is skipped and says so; one nonzero advantage brings the steps back."""
    import dataclasses

    tr = stage1_trainer(cfg_with("rl.kl_coef=0"), tmp_path)
    _, episodes, scores = first_iteration(tr)
    chunks = grpo.chunks_of(episodes, scores.advantage, scores.keep)
    assert chunks
    flat = [dataclasses.replace(c, advantage=0.0) for c in chunks]
    signal = [dataclasses.replace(flat[0], advantage=1.0), *flat[1:]]
    for batch, moves in ((flat, False), (signal, True)):
        model = copy.deepcopy(tr.policy)
        params = list(model.trainable_in_rl())
        optimizer = torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1)
        for p in params:  # an earlier step: AdamW now has momentum that a zero gradient keeps
            p.grad = torch.ones_like(p)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        before = [p.detach().clone() for p in params]
        with grpo.only_training(model, params):
            stats = grpo.ppo_update(
                model, optimizer, batch, tr.settings,
                generator=torch.Generator().manual_seed(0), reference=tr.reference,
            )  # fmt: skip
        changed = any(not torch.equal(p, q) for p, q in zip(params, before, strict=True))
        assert changed == moves
        assert stats["skipped"] == (0.0 if moves else 1.0)
        assert (stats["optimizer_steps"] > 0) == moves
        assert "kl_ref" in stats and "step_kl" in stats
