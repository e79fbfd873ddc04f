"""What differs between the two RL stages (PAPER.md §3, DESIGN.md §2.2-2.3).

A stage tells the trainer (:class:`ptrim.trainer.GRPOTrainer`) each group member's execution
length, turns a batch of rollouts into rewards, observes the outcome and reports its metrics,
identity, state and result. :class:`Stage1` (reliable chunk extension) assigns execution lengths
from a curriculum (:func:`make_curriculum`, :func:`ladder_lengths`) and chooses the horizon
stage 2 gets; :class:`Stage2` (redundancy-aware step reduction) runs every member at that
horizon, with the optional :class:`ShortcutCheck`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ptrim import rewards
from ptrim.curriculum import (
    Curriculum,
    FrontierCurriculum,
    PatternCurriculum,
    select_stage2_horizon,
)
from ptrim.episode import EpisodeRecord

# runs(batch positions, repeats) -> ``repeats`` fresh-noise replays of each (trainer's replay)
ReplayRunner = Callable[[Sequence[int], int], list[list[EpisodeRecord]]]


class Stage1:
    """Reliable chunk extension: a group's members execute the curriculum's ``h_i``; the
    horizon bonus ``λ_plan · r_max · h_i / h_base`` rewards successes at longer ``h``. The
    horizon for stage 2 is the longest whose windowed success rate holds
    (:func:`ptrim.curriculum.select_stage2_horizon`: within ``tolerance`` of the lower of
    ``sr_base`` and the shortest rung's sampled rate)."""

    name = "stage1"

    def __init__(
        self,
        curriculum: Curriculum,
        *,
        h_base: float,
        lam_plan: float,
        sr_base: float,
        tolerance: float,
    ) -> None:
        self.curriculum = curriculum
        self.h_base, self.lam_plan = h_base, lam_plan
        self.sr_base, self.tolerance = sr_base, tolerance

    def exec_lens(self, group_size: int) -> list[int]:
        return self.curriculum.assign(group_size)

    def rewards(
        self, arrays: Mapping[str, np.ndarray], keep: np.ndarray, replays: ReplayRunner
    ) -> tuple[rewards.RewardTerms, dict[str, float]]:
        terms = rewards.stage1_rewards(
            arrays["success"],
            arrays["h"],
            arrays["env_reward"],
            h_base=self.h_base,
            lam_plan=self.lam_plan,
        )
        return terms, {}

    def observe(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.curriculum.update(arrays["h"].tolist(), arrays["success"].tolist())

    def horizon(self) -> int | None:
        rates = self.curriculum.per_horizon_success()
        if not any(math.isfinite(r) for r in rates.values()):
            return None
        return select_stage2_horizon(rates, self.sr_base, self.tolerance)

    def metrics(self) -> dict[str, float]:
        rates = self.curriculum.per_horizon_success()
        out = {f"curriculum/sr_h{h}": r for h, r in rates.items()}
        if isinstance(self.curriculum, FrontierCurriculum):
            out["stage1/frontier"] = self.curriculum.frontier
        if (h := self.horizon()) is not None:
            out["stage1/selected_h"] = h
        return out

    def identity(self) -> dict[str, Any]:
        return {"sr_base": self.sr_base, "curriculum": self.curriculum.state_dict()["config"]}

    def result(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon(),
            "per_horizon_success": {
                str(h): r for h, r in self.curriculum.per_horizon_success().items()
            },
            "sr_base": self.sr_base,
            "tolerance": self.tolerance,
            "frontier_history": list(getattr(self.curriculum, "history", [])),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"curriculum": self.curriculum.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.curriculum.load_state_dict(state["curriculum"])


def make_curriculum(
    s1: Any,
    plan_horizon: int,
    *,
    start_h: int | None,
    sr_base: float,
    model: str | None = None,
) -> Curriculum:
    """Stage 1's curriculum from ``rl.stage1``: ``pattern`` cycles the ladder — ``ladders[model]``
    if given, else :func:`ladder_lengths` (``ladder`` ratios × ``H``); ``frontier`` starts at
    ``start_h``."""
    if s1.curriculum == "pattern":
        explicit = s1.ladders.get(model) if model is not None else None
        if explicit is not None and max(explicit) > plan_horizon:
            raise ValueError(
                f"rl.stage1.ladders.{model} = {list(explicit)}: "
                f"every h must be <= H = {plan_horizon}"
            )
        ladder = sorted(set(explicit)) if explicit else ladder_lengths(s1.ladder, plan_horizon)
        return PatternCurriculum(ladder, window=s1.window)
    if start_h is None:
        raise ValueError(
            "the frontier curriculum needs start_h: the base policy's largest reliable h "
            f"(ptrim.profiling.reliable_exec_len with epsilon = {s1.frontier_epsilon})"
        )
    return FrontierCurriculum(
        start_h, plan_horizon, s1.frontier_step, s1.frontier_tau, s1.window, sr_base
    )


def ladder_lengths(ratios: Sequence[float], plan_horizon: int) -> list[int]:
    """Execution lengths of acceptance ratios ``γ = h/H``: ``round(γ·H)`` (halves up), within
    ``1..H``, sorted, duplicates merged. ``(0.25, 0.5, 0.75)`` with ``H = 20``: ``[5, 10, 15]``."""
    return sorted({min(plan_horizon, max(1, math.floor(g * plan_horizon + 0.5))) for g in ratios})


@dataclass(frozen=True)
class ShortcutCheck:
    """Stage 2's optional explicit check (DESIGN.md §2.3): each success of a kept group shorter
    than ``(1 − gamma) · μ_g`` is replayed ``replays`` times from its initial state at its
    ``h`` with fresh noise; its step-saving reward is withheld unless at least
    ``rho · replays`` replays succeed within ``(1 + slack) · t_i``
    (:func:`ptrim.rewards.shortcut_withheld`)."""

    gamma: float
    rho: float
    slack: float
    replays: int

    def withheld(
        self, arrays: Mapping[str, np.ndarray], keep: np.ndarray, run: ReplayRunner
    ) -> tuple[np.ndarray, dict[str, float]]:
        s, t, g = arrays["success"], arrays["t"], arrays["group"]
        candidates = np.flatnonzero(rewards.replay_candidates(s, t, g, self.gamma) & keep)
        mu = rewards.group_success_steps(s, t, g).mu
        out = np.zeros(len(s), dtype=bool)
        if len(candidates):
            for i, eps in zip(candidates, run(candidates.tolist(), self.replays), strict=True):
                ok = [e.success for e in eps]
                rt = [e.success_step - 1 if e.success else -1 for e in eps]
                out[i] = rewards.shortcut_withheld(
                    t[i], mu[i], ok, rt, gamma=self.gamma, rho=self.rho, slack=self.slack
                )
        return out, {
            "shortcut/candidates": float(len(candidates)),
            "shortcut/replays": float(len(candidates) * self.replays),
        }


class Stage2:
    """Redundancy-aware step reduction at a fixed horizon: ``R_i = r_succ + r_eff − p_i``
    (:func:`ptrim.rewards.stage2_rewards`), with the optional :class:`ShortcutCheck`."""

    name = "stage2"

    def __init__(
        self,
        horizon: int,
        *,
        T_max: float,
        lam_eff: float,
        lam_stab: float,
        sigma_floor: float,
        use_stability: bool,
        shortcut: ShortcutCheck | None = None,
    ) -> None:
        self.horizon = int(horizon)
        self.T_max, self.lam_eff, self.lam_stab = T_max, lam_eff, lam_stab
        self.sigma_floor, self.use_stability, self.shortcut = sigma_floor, use_stability, shortcut
        self.over_budget = math.nan  # this iteration's share of successes at t >= T_max
        self._warned = False

    def exec_lens(self, group_size: int) -> list[int]:
        return [self.horizon] * group_size

    def rewards(
        self, arrays: Mapping[str, np.ndarray], keep: np.ndarray, replays: ReplayRunner
    ) -> tuple[rewards.RewardTerms, dict[str, float]]:
        withheld, info = None, {}
        if self.shortcut is not None:
            withheld, info = self.shortcut.withheld(arrays, keep, replays)
        terms = rewards.stage2_rewards(
            arrays["success"],
            arrays["t"],
            arrays["group"],
            arrays["env_reward"],
            T_max=self.T_max,
            lam_eff=self.lam_eff,
            lam_stab=self.lam_stab,
            sigma_floor=self.sigma_floor,
            use_stability=self.use_stability,
            withheld=withheld,
        )
        return terms, info

    def observe(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Records ``over_budget``, the share of this iteration's successes that took
        ``T_max`` steps or more and so earn no step-saving reward; warns once if it is over
        half (``T_max`` sits below the policy's steps: stage 2 has almost no signal)."""
        t = np.asarray(arrays["t"], dtype=float)[np.asarray(arrays["success"], dtype=bool)]
        self.over_budget = float(np.mean(t >= self.T_max)) if t.size else math.nan
        if self.over_budget > 0.5 and not self._warned:
            self._warned = True
            warnings.warn(
                f"stage 2: {self.over_budget:.0%} of the successes took >= T_max = "
                f"{self.T_max:g} steps (mean {t.mean():.0f}), so the step-saving reward pays "
                "them nothing; raise rl.stage2.T_max for this suite above the policy's steps",
                stacklevel=2,
            )

    def metrics(self) -> dict[str, float]:
        out = {"stage2/horizon": self.horizon}
        if not math.isnan(self.over_budget):
            out["stage2/over_budget"] = self.over_budget
        return out

    def identity(self) -> dict[str, Any]:
        return {"horizon": self.horizon}

    def result(self) -> dict[str, Any]:
        return {"horizon": self.horizon}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass
