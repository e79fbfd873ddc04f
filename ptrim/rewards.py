"""PolicyTrim's rewards, GRPO advantages and PPO loss (PAPER.md §3, DESIGN.md §2.2-2.4).

Pure math: numpy for the per-rollout rewards and advantages, torch for the loss. No envs, no
models; :func:`rollout_arrays` only reads :class:`~ptrim.episode.EpisodeRecord` fields.

Per-rollout inputs (one entry per rollout of the *whole* batch, all groups together)
-------------------------------------------------------------------------------------
==============  =================================================================================
``success``     bool, the episode succeeded before its step limit
``t``           0-based env-step index of the first success (``EpisodeRecord.success_step - 1``);
                ignored for failures (any value, e.g. -1 or NaN)
``h``           execution length the rollout used (stage 1 assigns it per rollout)
``group``       group id: rollouts from one initial state (any hashable numpy-able ids)
``env_reward``  raw summed environment reward, ``r_succ * 1[success]`` on LIBERO
                (:func:`success_reward`); this is the ``r_succ,i`` term of ``R_i``
==============  =================================================================================

Formulas (the authors' code; ``r_max`` = largest ``env_reward`` in the batch, 0 without success)
-------------------------------------------------------------------------------------------------
* stage 1   ``R_i = r_succ,i + λ_plan · r_max · (h_i / h_base) · 1[success_i]``
* stage 2   ``R_i = r_succ,i + r_eff,i − p_i`` with
  ``r_eff,i = λ_eff · r_max · max(0, (T_max − t_i) / T_max) · 1[success_i]`` and
  ``p_i = λ_stab · r_max · tanh(|t_i − μ_g| / σ_g) · 1[success_i]`` when ``σ_g ≥ σ_floor``
  (``μ_g``, population ``σ_g`` over the group's successes; no penalty with < 2 successes)
* GRPO      ``A_i = (R_i − mean_g R) / (std_g R + 1e-6)``, sample std (ddof 1)
* filter    keep groups with ``low ≤ mean_g success ≤ high`` (default [0.1, 1.0])
* PPO       one ratio per chunk, asymmetric clip, dual-clip ``c`` for negative advantages,
  token-mean over valid chunks
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ptrim.episode import EpisodeRecord

ADV_EPS = 1e-6  # GRPO: std_g + ADV_EPS in the denominator (authors' code)
FILTER_TOL = 1e-9  # float slack on the inclusive group-filter bounds
LOG_RATIO_CLAMP = 20.0  # |log π_new − log π_old| is clamped before exp() (overflow guard)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _bool(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=bool).reshape(-1)


def _float(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"per-rollout arrays differ in length: {lengths}")
    return next(iter(lengths.values()), 0)


def _success_t(success: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
    """``success`` as bool and ``t`` as float with failures' entries set to 0 (ignored)."""
    s, tt = _bool(success), _float(t)
    _same_length(success=s, t=tt)
    bad = s & ~(np.isfinite(tt) & (tt >= 0))
    if bad.any():
        raise ValueError(f"successful rollouts need a 0-based step t >= 0; got {tt[bad].tolist()}")
    return s, np.where(s, tt, 0.0)


def success_reward(success: Any, r_succ: float = 1.0) -> np.ndarray:
    """The raw env reward of a sparse-success benchmark: ``r_succ · 1[success]`` per rollout."""
    return r_succ * _bool(success).astype(np.float64)


def rollout_arrays(episodes: Sequence[EpisodeRecord], r_succ: float = 1.0) -> dict[str, np.ndarray]:
    """Per-rollout arrays from episode records, in the conventions above.

    ``t = success_step − 1`` (records count steps from 1, the authors' ``t_i`` from 0; -1 for
    failures); ``h`` is the requested execution length ``exec_len`` (the last chunk of an
    episode may be shorter because the episode ended); ``calls`` the forward passes, i.e. the
    chunks up to and including the one where the episode finished (:func:`broadcast_to_chunks`).
    """
    success = np.array([ep.success for ep in episodes], dtype=bool)
    return {
        "success": success,
        "t": np.array(
            [ep.success_step - 1 if ep.success else -1 for ep in episodes], dtype=np.int64
        ),
        "h": np.array([ep.exec_len for ep in episodes], dtype=np.int64),
        "env_reward": success_reward(success, r_succ),
        "calls": np.array([ep.n_calls for ep in episodes], dtype=np.int64),
    }


def r_max(env_rewards: Any) -> float:
    """``r_max``: the largest summed env reward over the whole batch (all groups, before
    filtering). 0 for an empty batch or one without success (so every shaping term is 0);
    never negative."""
    r = _float(env_rewards)
    return max(0.0, float(r.max())) if r.size else 0.0


# --------------------------------------------------------------------------------------------
# Reward terms
# --------------------------------------------------------------------------------------------


def horizon_reward(
    success: Any, h: Any, h_base: float, r_max: float, lam_plan: float = 1.0
) -> np.ndarray:
    """Stage 1 bonus ``λ_plan · r_max · (h_i / h_base) · 1[success_i]`` ([N]); ``h / h_base``
    is not clamped (h > h_base earns more than ``λ_plan · r_max``)."""
    if h_base <= 0:
        raise ValueError(f"h_base must be > 0, got {h_base}")
    s, hh = _bool(success), _float(h)
    _same_length(success=s, h=hh)
    return np.where(s, lam_plan * r_max * hh / h_base, 0.0)


def step_saving_reward(
    success: Any, t: Any, T_max: float, r_max: float, lam_eff: float
) -> np.ndarray:
    """Stage 2 step-saving reward ``λ_eff · r_max · max(0, (T_max − t_i) / T_max) · 1[success_i]``
    ([N]); ``t_i`` 0-based, so a success at ``t_i = 0`` earns the full ``λ_eff · r_max``."""
    if T_max <= 0:
        raise ValueError(f"T_max must be > 0, got {T_max}")
    s, tt = _success_t(success, t)
    return np.where(s, lam_eff * r_max * np.maximum(0.0, (T_max - tt) / T_max), 0.0)


@dataclass(frozen=True)
class GroupSteps:
    """Per rollout ([N] each): its group's mean ``mu`` and population std ``sigma`` of ``t`` over
    the group's successes, and the number ``n`` of those successes (mu = sigma = NaN if 0)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: np.ndarray


def group_success_steps(success: Any, t: Any, group: Any) -> GroupSteps:
    """``μ_g``, ``σ_g`` (population std, divide by n) of first-success steps over each group's
    successful rollouts, broadcast back to the group's rollouts."""
    s, tt = _success_t(success, t)
    g = np.asarray(group).reshape(-1)
    _same_length(success=s, group=g)
    mu, sigma = np.full(len(s), np.nan), np.full(len(s), np.nan)
    n = np.zeros(len(s), dtype=np.int64)
    for gid in np.unique(g):
        members = g == gid
        steps = tt[members & s]
        n[members] = len(steps)
        if len(steps):
            mu[members], sigma[members] = steps.mean(), steps.std(ddof=0)
    return GroupSteps(mu=mu, sigma=sigma, n=n)


def stability_penalty(
    success: Any,
    t: Any,
    group: Any,
    r_max: float,
    lam_stab: float,
    sigma_floor: float = 5.0,
) -> np.ndarray:
    """Stage 2 penalty ``p_i = λ_stab · r_max · tanh(|t_i − μ_g| / σ_g) · 1[success_i]`` ([N],
    subtracted from ``R_i``).

    ``μ_g``, ``σ_g``: :func:`group_success_steps`. Applied only when ``σ_g ≥ sigma_floor``
    (equality included) and the group has at least 2 successes; a zero ``σ_g`` (possible only
    with ``sigma_floor ≤ 0``) gives no penalty since every success sits at the mean.
    """
    s, tt = _success_t(success, t)
    st = group_success_steps(s, tt, group)
    gate = s & (st.n >= 2) & (st.sigma >= sigma_floor) & (st.sigma > 0)
    z = np.abs(tt - st.mu) / np.where(gate, st.sigma, 1.0)
    return np.where(gate, lam_stab * r_max * np.tanh(z), 0.0)


# --------------------------------------------------------------------------------------------
# Optional explicit shortcut check (DESIGN.md §2.3; replays are run by the trainer)
# --------------------------------------------------------------------------------------------


def needs_replay(t_i: float, mu_g: float, gamma: float) -> bool:
    """A success is a shortcut candidate when ``t_i < (1 − γ) · μ_g`` (strictly shorter)."""
    return bool(t_i < (1.0 - gamma) * mu_g)


def replay_candidates(success: Any, t: Any, group: Any, gamma: float) -> np.ndarray:
    """Bool [N]: successes with ``t_i < (1 − γ) · μ_g``, ``μ_g`` the mean over the group's
    successes (the candidate included, as in the stability penalty). A group's only success
    equals its mean and is never a candidate."""
    s, tt = _success_t(success, t)
    mu = group_success_steps(s, tt, group).mu
    return s & (tt < (1.0 - gamma) * np.where(s, mu, 0.0))


def shortcut_withheld(
    t_i: float,
    mu_g: float,
    replay_success: Any,
    replay_t: Any,
    *,
    gamma: float,
    rho: float,
    slack: float,
) -> bool:
    """Whether a success's step-saving reward is withheld as an unreproducible shortcut.

    Only candidates (:func:`needs_replay`) can be withheld. For a candidate, the ``R`` replays
    from the same state with fresh noise (``replay_success`` bool [R], ``replay_t`` their
    0-based first-success steps, ignored for failed replays) *confirm* it when they succeed
    within ``(1 + slack) · t_i`` steps (inclusive); the reward is withheld when fewer than
    ``ρ · R`` replays confirm. A candidate with no replays raises ValueError.
    """
    if not needs_replay(t_i, mu_g, gamma):
        return False
    ok, rt = _success_t(replay_success, replay_t)
    if not len(ok):
        raise ValueError("shortcut_withheld: a candidate needs at least one replay")
    confirmed = int(np.sum(ok & (rt <= (1.0 + slack) * t_i)))
    return bool(confirmed < rho * len(ok))


# --------------------------------------------------------------------------------------------
# Total rewards per stage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardTerms:
    """Every term of ``R_i`` separately ([N] each; unused terms are zeros) and the batch's
    ``r_max``: ``total = r_succ + r_plan + r_eff − penalty``. ``withheld`` marks successes
    whose step-saving reward the shortcut check withheld."""

    r_succ: np.ndarray
    r_plan: np.ndarray
    r_eff: np.ndarray
    penalty: np.ndarray
    total: np.ndarray
    r_max: float
    withheld: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def summary(self) -> dict[str, float]:
        """Batch means of every term (and ``r_max``), for logging."""
        out = {k: float(np.mean(getattr(self, k))) if len(self.total) else 0.0 for k in _TERMS}
        out["r_max"] = self.r_max
        out["withheld"] = float(np.sum(self.withheld))
        return out


_TERMS = ("r_succ", "r_plan", "r_eff", "penalty", "total")


def stage1_rewards(
    success: Any, h: Any, env_reward: Any, *, h_base: float, lam_plan: float = 1.0
) -> RewardTerms:
    """Stage 1: ``R_i = r_succ,i + λ_plan · r_max · (h_i / h_base) · 1[success_i]``, ``r_max``
    over the given (whole) batch."""
    r_succ = _float(env_reward)
    rmax = r_max(r_succ)
    r_plan = horizon_reward(success, h, h_base, rmax, lam_plan)
    _same_length(env_reward=r_succ, r_plan=r_plan)
    zeros = np.zeros_like(r_succ)
    return RewardTerms(
        r_succ=r_succ,
        r_plan=r_plan,
        r_eff=zeros,
        penalty=zeros,
        total=r_succ + r_plan,
        r_max=rmax,
        withheld=np.zeros(len(r_succ), dtype=bool),
    )


def stage2_rewards(
    success: Any,
    t: Any,
    group: Any,
    env_reward: Any,
    *,
    T_max: float,
    lam_eff: float,
    lam_stab: float,
    sigma_floor: float = 5.0,
    use_stability: bool = True,
    withheld: Any = None,
) -> RewardTerms:
    """Stage 2: ``R_i = r_succ,i + r_eff,i − p_i``, ``r_max`` over the given (whole) batch.

    ``use_stability=False`` is the "no stability term" ablation (``p_i = 0``). ``withheld``
    (bool [N], from :func:`shortcut_withheld`) zeroes ``r_eff,i`` of those rollouts; their
    ``r_succ`` and penalty are kept.
    """
    r_succ = _float(env_reward)
    rmax = r_max(r_succ)
    r_eff = step_saving_reward(success, t, T_max, rmax, lam_eff)
    _same_length(env_reward=r_succ, r_eff=r_eff)
    w = np.zeros(len(r_succ), dtype=bool) if withheld is None else _bool(withheld)
    _same_length(env_reward=r_succ, withheld=w)
    r_eff = np.where(w, 0.0, r_eff)
    if use_stability:
        penalty = stability_penalty(success, t, group, rmax, lam_stab, sigma_floor)
    else:
        penalty = np.zeros_like(r_succ)
    return RewardTerms(
        r_succ=r_succ,
        r_plan=np.zeros_like(r_succ),
        r_eff=r_eff,
        penalty=penalty,
        total=r_succ + r_eff - penalty,
        r_max=rmax,
        withheld=w & _bool(success),
    )


# --------------------------------------------------------------------------------------------
# GRPO: advantages, group filter, broadcast over chunks
# --------------------------------------------------------------------------------------------


def group_advantages(R: Any, group: Any, eps: float = ADV_EPS) -> np.ndarray:
    """``A_i = (R_i − mean_g R) / (std_g R + eps)`` ([N]) with the sample std (divide by
    ``n_g − 1``). A group of one rollout has no spread to compare against: its advantage is 0.
    Groups with equal rewards get 0 too."""
    r = _float(R)
    g = np.asarray(group).reshape(-1)
    _same_length(R=r, group=g)
    adv = np.zeros_like(r)
    for gid in np.unique(g):
        members = g == gid
        if members.sum() < 2:
            continue
        rg = r[members]
        adv[members] = (rg - rg.mean()) / (rg.std(ddof=1) + eps)
    return adv


def keep_groups(success: Any, group: Any, low: float = 0.1, high: float = 1.0) -> np.ndarray:
    """Bool [N]: rollouts of groups whose mean raw success lies in ``[low, high]`` (bounds
    inclusive, :data:`FILTER_TOL` float slack). With the defaults all-fail groups are dropped
    and all-success groups kept (they still carry step signal)."""
    s = _bool(success).astype(np.float64)
    g = np.asarray(group).reshape(-1)
    _same_length(success=s, group=g)
    keep = np.zeros(len(s), dtype=bool)
    for gid in np.unique(g):
        members = g == gid
        rate = s[members].mean()
        keep[members] = low - FILTER_TOL <= rate <= high + FILTER_TOL
    return keep


def broadcast_to_chunks(
    advantage: Any, calls: Any, num_chunks: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Copy each rollout's advantage to its chunks: ``values[i, k] = A_i`` for
    ``k < calls_i``, the chunks up to and including the one where rollout i first finished.

    Returns ``values`` float [N, C] (0 past a rollout's end) and ``mask`` bool [N, C];
    ``C = num_chunks`` or ``max(calls)``. ``values[mask]`` lists the chunks rollout by rollout.
    """
    adv = _float(advantage)
    n_calls = np.asarray(calls, dtype=np.int64).reshape(-1)
    _same_length(advantage=adv, calls=n_calls)
    if (n_calls < 0).any():
        raise ValueError(f"calls must be >= 0, got {n_calls.tolist()}")
    width = int(n_calls.max(initial=0)) if num_chunks is None else int(num_chunks)
    if (n_calls > width).any():
        raise ValueError(f"num_chunks={width} is smaller than a rollout's calls {n_calls.max()}")
    mask = np.arange(width)[None, :] < n_calls[:, None]
    return np.where(mask, adv[:, None], 0.0), mask


# --------------------------------------------------------------------------------------------
# PPO loss
# --------------------------------------------------------------------------------------------


def ppo_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    adv: torch.Tensor,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = 3.0,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped PPO surrogate with dual-clip, one ratio per chunk, token-mean over valid chunks.

    Inputs share one shape (e.g. [N, C] chunks): ``logp_*`` the log-likelihood of each chunk's
    executed actions (summed over them), ``adv`` the broadcast advantage, ``mask`` which entries
    are real chunks (all if None). ``logp_old`` and ``adv`` are treated as constants.

    * ``r = exp(logp_new − logp_old)`` (log-ratio clamped to ±:data:`LOG_RATIO_CLAMP`)
    * ``L = max(−A·r, −A·clip(r, 1 − clip_low, 1 + clip_high))``
    * dual-clip, ``A < 0`` only: ``L = min(L, −c·A) = min(L, c·|A|)``, so a negative-advantage
      chunk whose ratio exploded contributes at most ``c·|A|`` and no gradient
      (``dual_clip=None`` disables it; otherwise ``c > 1``)
    * ``loss = Σ mask·L / max(Σ mask, 1)``

    Stats (floats, over valid entries): ``clip_frac`` (the clipped branch was taken: zero
    gradient), ``dual_clip_frac``, ``approx_kl`` = mean ``(r − 1) − log r`` (Schulman's k3
    estimator of KL(π_old ‖ π_new) from samples of π_old: unbiased, never negative),
    ``ratio_mean``, ``n_valid``.
    """
    if not 0.0 <= clip_low < 1.0 or clip_high < 0.0:
        raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0, got {clip_low}, {clip_high}")
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1 (or None), got {dual_clip}")
    if not logp_new.shape == logp_old.shape == adv.shape:
        raise ValueError(
            f"shapes differ: logp_new {tuple(logp_new.shape)}, logp_old "
            f"{tuple(logp_old.shape)}, adv {tuple(adv.shape)}"
        )
    valid = torch.ones_like(logp_new, dtype=torch.bool) if mask is None else mask.bool()
    if valid.shape != logp_new.shape:
        raise ValueError(f"mask shape {tuple(valid.shape)} != {tuple(logp_new.shape)}")
    a = torch.where(valid, adv.detach().to(logp_new.dtype), 0.0)
    # padding may hold garbage (NaN); zero it before exp() so no NaN reaches the gradient
    log_ratio = torch.where(valid, logp_new - logp_old.detach().to(logp_new.dtype), 0.0)
    log_ratio = log_ratio.clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = torch.exp(log_ratio)
    unclipped = -a * ratio
    clipped = -a * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    per_chunk = torch.maximum(unclipped, clipped)
    dual_active = torch.zeros_like(valid)
    if dual_clip is not None:
        bound = -a * dual_clip
        dual_active = (a < 0) & (per_chunk > bound)
        per_chunk = torch.where(a < 0, torch.minimum(per_chunk, bound), per_chunk)
    n = valid.sum()
    denom = n.clamp(min=1).to(per_chunk.dtype)
    loss = torch.where(valid, per_chunk, 0.0).sum() / denom

    def mean(x: torch.Tensor) -> float:
        return float(torch.where(valid, x.detach().to(per_chunk.dtype), 0.0).sum() / denom)

    stats = {
        "clip_frac": mean(clipped > unclipped),
        "dual_clip_frac": mean(dual_active),
        "approx_kl": mean((ratio - 1.0) - log_ratio),
        "ratio_mean": mean(ratio),
        "n_valid": float(n),
    }
    return loss, stats
