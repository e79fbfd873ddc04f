"""Rewards, GRPO advantages and the PPO loss against hand-computed numbers (PAPER.md §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ptrim import rewards as R
from ptrim.episode import CallRecord, EpisodeRecord

LAM_STAB = 0.2


def approx(x, **kw):
    return pytest.approx(x, rel=1e-12, abs=1e-12, **kw)


# --------------------------------------------------------------------------------------------
# Inputs and r_max
# --------------------------------------------------------------------------------------------


def test_r_max_is_the_largest_env_reward_of_the_batch():
    assert R.r_max([0.0, 1.0, 0.0]) == 1.0
    assert R.r_max([0.0, 2.5, 1.0]) == 2.5
    assert R.r_max([0.0, 0.0]) == 0.0  # no success: every shaping term is 0
    assert R.r_max([]) == 0.0


def test_success_reward_is_a_parameter():
    assert R.success_reward([True, False, True], r_succ=2.0).tolist() == [2.0, 0.0, 2.0]
    assert R.success_reward([True, False]).tolist() == [1.0, 0.0]


def _episode(success_step: int | None, exec_len: int, n_calls: int) -> EpisodeRecord:
    calls = [CallRecord(step=0, plan=np.zeros((1, 1)), executed=1, latency_s=0.0)] * n_calls
    return EpisodeRecord(
        benchmark="libero",
        suite="s",
        task="t",
        init_index=0,
        seed=0,
        plan_horizon=15,
        exec_len=exec_len,
        max_steps=300,
        control_hz=20.0,
        success=success_step is not None,
        success_step=success_step,
        steps=success_step or 300,
        calls=calls,
    )


def test_rollout_arrays_convert_the_1_based_success_step_to_0_based_t():
    a = R.rollout_arrays([_episode(37, 5, 8), _episode(None, 10, 30)], r_succ=1.0)
    assert a["success"].tolist() == [True, False]
    assert a["t"].tolist() == [36, -1]
    assert a["h"].tolist() == [5, 10]
    assert a["env_reward"].tolist() == [1.0, 0.0]
    assert a["calls"].tolist() == [8, 30]


# --------------------------------------------------------------------------------------------
# Stage 1: horizon reward
# --------------------------------------------------------------------------------------------


def test_horizon_reward_by_hand_and_unclamped():
    out = R.horizon_reward(
        [True, True, False, True], [5, 10, 15, 30], h_base=10, r_max=2.0, lam_plan=0.5
    )
    # 0.5 * 2 * h/10 for successes; h/h_base = 3 is not clamped; the failure earns 0
    assert out.tolist() == approx([0.5, 1.0, 0.0, 3.0])


def test_stage1_rewards_terms_and_total():
    success = [True, False, True, False]
    h = [5, 10, 15, 15]
    env = R.success_reward(success, 1.0)
    terms = R.stage1_rewards(success, h, env, h_base=20, lam_plan=1.0)
    assert terms.r_max == 1.0
    assert terms.r_succ.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert terms.r_plan.tolist() == approx([0.25, 0.0, 0.75, 0.0])
    assert terms.r_eff.tolist() == [0.0] * 4 and terms.penalty.tolist() == [0.0] * 4
    assert terms.total.tolist() == approx([1.25, 0.0, 1.75, 0.0])
    s = terms.summary()
    assert s["total"] == pytest.approx(3.0 / 4) and s["r_max"] == 1.0


def test_stage1_r_max_scales_the_bonus():
    # env reward 5 per success (reward_coef 5): r_succ = 5 and r_max = 5
    terms = R.stage1_rewards([True, False], [10, 10], [5.0, 0.0], h_base=10)
    assert terms.r_plan.tolist() == [5.0, 0.0]
    assert terms.total.tolist() == [10.0, 0.0]


def test_batch_without_success_gets_zero_everywhere():
    success = [False] * 4
    env = R.success_reward(success)
    s1 = R.stage1_rewards(success, [5, 10, 15, 5], env, h_base=20)
    s2 = R.stage2_rewards(
        success, [-1] * 4, [0, 0, 1, 1], env, T_max=150, lam_eff=1.0, lam_stab=LAM_STAB
    )
    for terms in (s1, s2):
        assert terms.r_max == 0.0
        for name in ("r_succ", "r_plan", "r_eff", "penalty", "total"):
            assert getattr(terms, name).tolist() == [0.0] * 4


def test_r_max_zero_zeroes_shaping_even_for_successes():
    assert R.horizon_reward([True], [15], h_base=5, r_max=0.0).tolist() == [0.0]
    assert R.step_saving_reward([True], [0], T_max=100, r_max=0.0, lam_eff=1.0).tolist() == [0.0]
    pen = R.stability_penalty([True, True], [0, 100], [0, 0], r_max=0.0, lam_stab=1.0)
    assert pen.tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------------------------
# Stage 2: step saving and stability
# --------------------------------------------------------------------------------------------


def test_step_saving_reward_by_hand():
    out = R.step_saving_reward(
        [True, True, True, True, False, False],
        [0, 40, 99, 150, 10, np.nan],
        T_max=100,
        r_max=1.0,
        lam_eff=0.8,
    )
    # 0.8 * max(0, (100 - t) / 100); t = 150 is past the budget -> 0; failures -> 0
    assert out.tolist() == approx([0.8, 0.48, 0.008, 0.0, 0.0, 0.0])


def test_step_saving_reward_rejects_missing_t_for_a_success():
    with pytest.raises(ValueError, match="t >= 0"):
        R.step_saving_reward([True], [-1], T_max=100, r_max=1.0, lam_eff=1.0)
    with pytest.raises(ValueError, match="t >= 0"):
        R.step_saving_reward([True], [np.nan], T_max=100, r_max=1.0, lam_eff=1.0)


def test_stability_penalty_at_sigma_exactly_the_floor():
    # group 0: successes at t = 0 and 10 -> mu = 5, population sigma = 5 (sample std would be
    # 7.07); a failure in the group (t = 100) does not enter mu or sigma and gets nothing
    success = [True, True, False]
    t = [0, 10, 100]
    pen = R.stability_penalty(success, t, [0, 0, 0], r_max=2.0, lam_stab=0.1, sigma_floor=5.0)
    expected = 0.1 * 2.0 * math.tanh(5 / 5)
    assert pen.tolist() == approx([expected, expected, 0.0])


def test_stability_penalty_gate_just_under_the_floor():
    success, t, group = [True, True], [0, 10], [0, 0]  # sigma = 5 exactly
    floor = np.nextafter(5.0, 6.0)  # the smallest float above 5: sigma is now below it
    pen = R.stability_penalty(success, t, group, r_max=1.0, lam_stab=1.0, sigma_floor=floor)
    assert pen.tolist() == [0.0, 0.0]
    # sigma = 4.5 < 5: no penalty at the default floor, the full penalty at floor 4.5
    pen = R.stability_penalty(success, [0, 9], group, r_max=1.0, lam_stab=1.0)
    assert pen.tolist() == [0.0, 0.0]
    pen = R.stability_penalty(success, [0, 9], group, r_max=1.0, lam_stab=1.0, sigma_floor=4.5)
    assert pen.tolist() == approx([math.tanh(1.0)] * 2)


def test_stability_penalty_three_successes_by_hand():
    t = [10, 20, 60, 0]
    success = [True, True, True, False]
    mu = 30.0
    sigma = math.sqrt((20**2 + 10**2 + 30**2) / 3)  # population std
    pen = R.stability_penalty(success, t, [7] * 4, r_max=1.0, lam_stab=LAM_STAB)
    expected = [LAM_STAB * math.tanh(abs(x - mu) / sigma) for x in t[:3]] + [0.0]
    assert pen.tolist() == approx(expected)


def test_stability_penalty_groups_with_zero_or_one_success_get_none():
    success = [True, False, False, False, False, True, True]
    t = [3, 50, 90, 10, 40, 0, 100]
    group = [0, 0, 0, 1, 1, 2, 2]  # group 0: one success; group 1: none; group 2: sigma 50
    pen = R.stability_penalty(success, t, group, r_max=1.0, lam_stab=1.0, sigma_floor=0.0)
    assert pen[:5].tolist() == [0.0] * 5
    assert pen[5:].tolist() == approx([math.tanh(1.0)] * 2)


def test_stability_penalty_groups_are_independent_and_ids_arbitrary():
    # interleaved string ids: group "a" = {0, 10} (sigma 5), group "b" = {0, 100} (sigma 50)
    success = [True, True, True, True]
    t = [0, 0, 10, 100]
    group = ["a", "b", "a", "b"]
    pen = R.stability_penalty(success, t, group, r_max=1.0, lam_stab=1.0)
    assert pen.tolist() == approx([math.tanh(1.0)] * 4)
    st = R.group_success_steps(success, t, group)
    assert st.mu.tolist() == [5.0, 50.0, 5.0, 50.0]
    assert st.sigma.tolist() == [5.0, 50.0, 5.0, 50.0]
    assert st.n.tolist() == [2, 2, 2, 2]


def test_stage2_rewards_terms_and_total_by_hand():
    success = [True, True, False, True]
    t = [0, 10, 0, 30]  # the failure's t = 0 would be the best step reward if it counted
    group = [0, 0, 0, 1]
    env = R.success_reward(success)
    terms = R.stage2_rewards(
        success, t, group, env, T_max=100, lam_eff=0.5, lam_stab=0.1, sigma_floor=5.0
    )
    r_eff = [0.5 * 1.0, 0.5 * 0.9, 0.0, 0.5 * 0.7]
    pen = [0.1 * math.tanh(1.0), 0.1 * math.tanh(1.0), 0.0, 0.0]  # group 1: one success
    assert terms.r_max == 1.0
    assert terms.r_succ.tolist() == [1.0, 1.0, 0.0, 1.0]
    assert terms.r_plan.tolist() == [0.0] * 4
    assert terms.r_eff.tolist() == approx(r_eff)
    assert terms.penalty.tolist() == approx(pen)
    total = [s + e - p for s, e, p in zip(terms.r_succ, r_eff, pen, strict=True)]
    assert terms.total.tolist() == approx(total)
    assert terms.total[2] == 0.0  # failures earn nothing from any term

    ablated = R.stage2_rewards(
        success, t, group, env, T_max=100, lam_eff=0.5, lam_stab=0.1, use_stability=False
    )
    assert ablated.penalty.tolist() == [0.0] * 4
    assert ablated.total.tolist() == approx([1.5, 1.45, 0.0, 1.35])


def test_stage2_withheld_zeroes_only_the_step_reward():
    success = [True, True]
    t = [0, 10]
    env = R.success_reward(success)
    terms = R.stage2_rewards(
        success, t, [0, 0], env, T_max=100, lam_eff=1.0, lam_stab=0.1, withheld=[True, False]
    )
    assert terms.r_eff.tolist() == approx([0.0, 0.9])
    assert terms.penalty.tolist() == approx([0.1 * math.tanh(1.0)] * 2)
    assert terms.total.tolist() == approx([1.0 - 0.1 * math.tanh(1.0), 1.9 - 0.1 * math.tanh(1)])
    assert terms.withheld.tolist() == [True, False]
    assert terms.summary()["withheld"] == 1.0


def test_all_success_group_keeps_step_signal_after_filtering():
    success = [True] * 4 + [False] * 4
    t = [20, 40, 60, 80, -1, -1, -1, -1]
    group = [0] * 4 + [1] * 4
    env = R.success_reward(success)
    terms = R.stage2_rewards(success, t, group, env, T_max=100, lam_eff=1.0, lam_stab=0.1)
    keep = R.keep_groups(success, group)
    assert keep.tolist() == [True] * 4 + [False] * 4  # all-success kept, all-fail dropped
    adv = R.group_advantages(terms.total[keep], np.asarray(group)[keep])
    assert np.all(np.diff(adv) < 0)  # fewer steps -> larger advantage
    assert adv[0] > 0 > adv[-1]


# --------------------------------------------------------------------------------------------
# Shortcut check
# --------------------------------------------------------------------------------------------


def test_needs_replay_is_strictly_shorter_than_the_threshold():
    assert R.needs_replay(34, mu_g=50, gamma=0.3)  # threshold (1 - 0.3) * 50 = 35
    assert R.needs_replay(24, mu_g=50, gamma=0.5)
    assert not R.needs_replay(25, mu_g=50, gamma=0.5)  # exactly (1 - 0.5) * 50
    assert not R.needs_replay(40, mu_g=50, gamma=0.3)


def test_replay_candidates_by_hand():
    success = [True, True, True, False, True, True]
    t = [20, 50, 80, 0, 5, 7]
    group = [0, 0, 0, 0, 1, 2]  # group 0: mu = 50 (the failure excluded); 1, 2: single success
    cand = R.replay_candidates(success, t, group, gamma=0.3)
    assert cand.tolist() == [True, False, False, False, False, False]


def test_shortcut_withheld_counts_replays_within_the_slack():
    kw = dict(gamma=0.3, slack=0.5)  # t_i = 20 < 35: a candidate; limit (1 + 0.5) * 20 = 30
    ok = [True, True, False, True]
    rt = [25, 30, 10, 31]  # confirmed: 25, 30 (inclusive); the failure and 31 do not count
    assert not R.shortcut_withheld(20, 50, ok, rt, rho=0.5, **kw)  # 2 >= 0.5 * 4
    assert R.shortcut_withheld(20, 50, ok, rt, rho=0.75, **kw)  # 2 < 3
    assert R.shortcut_withheld(20, 50, [False] * 4, [-1] * 4, rho=0.25, **kw)


def test_shortcut_withheld_never_for_non_candidates_and_needs_replays():
    assert not R.shortcut_withheld(40, 50, [False], [-1], gamma=0.3, rho=1.0, slack=0.0)
    with pytest.raises(ValueError, match="at least one replay"):
        R.shortcut_withheld(20, 50, [], [], gamma=0.3, rho=0.5, slack=0.5)


# --------------------------------------------------------------------------------------------
# GRPO: advantages, filter, broadcast
# --------------------------------------------------------------------------------------------


def test_group_advantages_sample_std_by_hand():
    r = [1.0, 5.0, 2.0, 2.0, 3.0, 7.0, 4.0, 7.0]
    group = [0, 1, 0, 2, 0, 3, 0, 3]
    adv = R.group_advantages(r, group)
    std0 = math.sqrt((1.5**2 + 0.5**2 + 0.5**2 + 1.5**2) / 3)  # sample std of 1, 2, 3, 4
    assert adv[[0, 2, 4, 6]].tolist() == approx([x / (std0 + 1e-6) for x in (-1.5, -0.5, 0.5, 1.5)])
    assert adv[1] == 0.0  # a group of one rollout
    assert adv[3] == 0.0  # group 2 is also a single rollout
    assert adv[[5, 7]].tolist() == [0.0, 0.0]  # equal rewards
    pop = math.sqrt((1.5**2 + 0.5**2 + 0.5**2 + 1.5**2) / 4)
    assert adv[0] != pytest.approx(-1.5 / (pop + 1e-6))


def test_group_advantages_eps_keeps_tiny_spread_finite():
    adv = R.group_advantages([0.0, 1e-9], [0, 0])
    std = math.sqrt(2 * 0.5e-9**2)
    assert adv.tolist() == approx([-0.5e-9 / (std + 1e-6), 0.5e-9 / (std + 1e-6)])


def test_keep_groups_bounds_are_inclusive():
    # group rates: 0 (all fail), 0.1 (1 of 10), 0.5, 1.0 (all success)
    success = [False] * 4 + [True] + [False] * 9 + [True, False] + [True] * 3
    group = [0] * 4 + [1] * 10 + [2] * 2 + [3] * 3
    keep = R.keep_groups(success, group)
    per_group = {g: bool(k) for g, k in zip(group, keep, strict=True)}
    assert per_group == {0: False, 1: True, 2: True, 3: True}
    keep = R.keep_groups(success, group, low=0.5, high=0.5)
    per_group = {g: bool(k) for g, k in zip(group, keep, strict=True)}
    assert per_group == {0: False, 1: False, 2: True, 3: False}
    keep = R.keep_groups(success, group, low=0.11, high=0.99)
    assert {g: bool(k) for g, k in zip(group, keep, strict=True)}[1] is False


def test_broadcast_to_chunks_by_hand():
    values, mask = R.broadcast_to_chunks([0.5, -1.0, 2.0], [3, 1, 0])
    assert values.tolist() == [[0.5, 0.5, 0.5], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert mask.tolist() == [[True] * 3, [True, False, False], [False] * 3]
    assert values[mask].tolist() == [0.5, 0.5, 0.5, -1.0]
    values, mask = R.broadcast_to_chunks([0.5, -1.0], [3, 1], num_chunks=5)
    assert values.shape == (2, 5) and mask.sum() == 4
    with pytest.raises(ValueError, match="num_chunks"):
        R.broadcast_to_chunks([0.5], [3], num_chunks=2)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        R.group_advantages([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="differ in length"):
        R.stage1_rewards([True, False], [5], [1.0, 0.0], h_base=10)


# --------------------------------------------------------------------------------------------
# PPO loss
# --------------------------------------------------------------------------------------------

# (ratio, advantage, per-chunk loss by hand, d loss_i / d logp_new) with clip [0.8, 1.28], c = 3
CASES = [
    (1.1, 1.0, -1.1, -1.1),  # inside the clip range
    (1.5, 1.0, -1.28, 0.0),  # A > 0, r > 1 + 0.28: clipped
    (0.5, 1.0, -0.5, -0.5),  # A > 0, r < 1 - 0.2: the pessimistic (unclipped) term wins
    (0.5, -1.0, 0.8, 0.0),  # A < 0, r < 0.8: clipped
    (1.2, -1.0, 1.2, 1.2),  # A < 0 inside the range
    (5.0, -1.0, 3.0, 0.0),  # A < 0, r large: max(5, 1.28) = 5 > c|A| = 3 -> dual-clipped
    (2.0, -2.0, 4.0, 4.0),  # A < 0, r = 2: 4 < c|A| = 6, not dual-clipped, grad -A r
    (5.0, 2.0, -2.56, 0.0),  # A > 0, r large: clipped at 1.28
]


def _ppo_inputs(requires_grad: bool = True):
    ratio = torch.tensor([c[0] for c in CASES], dtype=torch.float64)
    old = torch.linspace(-3.0, -1.0, len(CASES), dtype=torch.float64)
    new = (old + ratio.log()).clone().requires_grad_(requires_grad)
    adv = torch.tensor([c[1] for c in CASES], dtype=torch.float64)
    return new, old, adv


def test_ppo_loss_clip_and_dual_clip_by_hand():
    new, old, adv = _ppo_inputs()
    loss, stats = R.ppo_loss(new, old, adv, clip_low=0.2, clip_high=0.28, dual_clip=3.0)
    expected = sum(c[2] for c in CASES) / len(CASES)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.445)
    assert stats["clip_frac"] == pytest.approx(3 / 8)  # rows 2, 4, 8
    assert stats["dual_clip_frac"] == pytest.approx(1 / 8)  # row 6
    assert stats["ratio_mean"] == pytest.approx(sum(c[0] for c in CASES) / 8)
    kl = sum(r - 1 - math.log(r) for r, *_ in CASES) / 8
    assert stats["approx_kl"] == pytest.approx(kl) and stats["approx_kl"] > 0
    assert stats["n_valid"] == 8


def test_ppo_loss_gradient_zero_on_clipped_entries():
    new, old, adv = _ppo_inputs()
    old.requires_grad_(True)
    loss, _ = R.ppo_loss(new, old, adv, clip_low=0.2, clip_high=0.28, dual_clip=3.0)
    loss.backward()
    expected = torch.tensor([c[3] for c in CASES], dtype=torch.float64) / len(CASES)
    torch.testing.assert_close(new.grad, expected)
    assert (new.grad[[1, 3, 5, 7]] == 0).all()
    assert old.grad is None  # the old log-probs are constants


def test_ppo_loss_without_dual_clip():
    new, old, adv = _ppo_inputs()
    loss, stats = R.ppo_loss(new, old, adv, clip_low=0.2, clip_high=0.28, dual_clip=None)
    expected = (sum(c[2] for c in CASES) - 3.0 + 5.0) / len(CASES)  # row 6 back at 5
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert stats["dual_clip_frac"] == 0.0
    loss.backward()
    assert new.grad[5].item() == pytest.approx(5.0 / 8)  # -A r, no longer bounded


def test_ppo_loss_symmetric_clip_changes_the_upper_bound():
    new, old, adv = _ppo_inputs()
    loss, _ = R.ppo_loss(new, old, adv, clip_low=0.2, clip_high=0.2, dual_clip=3.0)
    expected = (sum(c[2] for c in CASES) + 1.28 - 1.2 + 2.56 - 2.4) / len(CASES)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_ppo_loss_mask_is_a_token_mean_over_valid_entries():
    new, old, adv = _ppo_inputs()
    mask = torch.tensor([1, 1, 0, 0, 1, 0, 1, 0], dtype=torch.bool)
    with torch.no_grad():
        new[~mask] = float("nan")  # padding may hold garbage
    loss, stats = R.ppo_loss(new, old, adv, 0.2, 0.28, 3.0, mask=mask)
    expected = (-1.1 - 1.28 + 1.2 + 4.0) / 4
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert stats["n_valid"] == 4 and stats["clip_frac"] == pytest.approx(1 / 4)
    loss.backward()
    assert torch.isfinite(new.grad).all()
    assert (new.grad[~mask] == 0).all()
    assert new.grad[0].item() == pytest.approx(-1.1 / 4)


def test_ppo_loss_all_masked_is_zero_and_finite():
    new, old, adv = _ppo_inputs()
    loss, stats = R.ppo_loss(new, old, adv, 0.2, 0.28, mask=torch.zeros(8, dtype=torch.bool))
    assert loss.item() == 0.0 and stats["n_valid"] == 0


def test_ppo_loss_on_broadcast_advantages_at_ratio_one():
    adv_rollout = R.group_advantages([1.0, 0.0, 3.0, 1.0], [0, 0, 1, 1])
    values, mask = R.broadcast_to_chunks(adv_rollout, [2, 1, 3, 1])
    logp = torch.zeros(values.shape, dtype=torch.float64, requires_grad=True)
    loss, stats = R.ppo_loss(
        logp, logp.detach(), torch.as_tensor(values), 0.2, 0.2, mask=torch.as_tensor(mask)
    )
    a = adv_rollout
    expected = -(2 * a[0] + a[1] + 3 * a[2] + a[3]) / 7  # -A per chunk, mean over 7 chunks
    assert loss.item() == pytest.approx(expected)
    assert stats["ratio_mean"] == 1.0 and stats["approx_kl"] == 0.0


def test_ppo_loss_rejects_bad_arguments():
    new, old, adv = _ppo_inputs()
    with pytest.raises(ValueError, match="dual_clip"):
        R.ppo_loss(new, old, adv, 0.2, 0.2, dual_clip=1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        R.ppo_loss(new, old[:4], adv, 0.2, 0.2)
    with pytest.raises(ValueError, match="clip_low"):
        R.ppo_loss(new, old, adv, 1.0, 0.2)
