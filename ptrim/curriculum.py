"""Stage-1 execution-length curricula: which ``h_i`` each rollout of a GRPO group executes
(DESIGN.md §2.2).

A plan holds ``H`` actions; rollout i executes the first ``h_i`` of each plan before re-planning.
Stage 1 gives the rollouts of one group (one initial state) different ``h_i`` so that successes at
longer ``h`` can be rewarded against shorter ones (:func:`ptrim.rewards.horizon_reward`).

* :class:`PatternCurriculum` — the paper's code: ``h`` cycles through a fixed ladder.
* :class:`FrontierCurriculum` — ours: a reliability frontier ``h*`` and the ladder
  ``{h*, h*+d, …, H}``; ``h*`` moves up by ``d`` once the windowed success rate at ``h*+d``
  reaches ``tau · sr_base``.

Both log success per horizon (:meth:`per_horizon_success`); :func:`select_stage2_horizon` picks
stage 2's horizon from that log (against the base's success, or the shortest rung's when
lower). State is plain JSON (``state_dict`` / ``load_state_dict``) so a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

SR_TOLERANCE = 1e-9  # float slack when comparing success rates against a threshold


class Curriculum(Protocol):
    """What the trainer needs from a stage-1 curriculum."""

    def assign(self, group_size: int) -> list[int]: ...
    def update(self, h_list: Sequence[int], success_list: Sequence[bool]) -> None: ...
    def per_horizon_success(self) -> dict[int, float]: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


def cyclic(ladder: Sequence[int], group_size: int) -> list[int]:
    """Rollout ``j`` of a group gets ``ladder[j % len(ladder)]``. When ``group_size`` is not a
    multiple of the ladder's length, the first rungs get one rollout more."""
    if group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    return [int(ladder[j % len(ladder)]) for j in range(group_size)]


class HorizonLog:
    """Recent outcomes per execution length: the last ``window`` per ``h`` (all if None)."""

    def __init__(self, window: int | None = None) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window must be >= 1 (or None), got {window}")
        self.window = window
        self._outcomes: dict[int, deque[bool]] = {}

    def add(self, h_list: Sequence[int], success_list: Sequence[bool]) -> None:
        if len(h_list) != len(success_list):
            raise ValueError(
                f"{len(h_list)} horizons but {len(success_list)} outcomes: one per rollout"
            )
        for h, ok in zip(h_list, success_list, strict=True):
            if int(h) < 1:
                raise ValueError(f"execution lengths must be >= 1, got {h}")
            self._outcomes.setdefault(int(h), deque(maxlen=self.window)).append(bool(ok))

    def count(self, h: int) -> int:
        return len(self._outcomes.get(h, ()))

    def rate(self, h: int) -> float:
        """Windowed success rate at ``h``; NaN without samples."""
        d = self._outcomes.get(h)
        return sum(d) / len(d) if d else math.nan

    def rates(self) -> dict[int, float]:
        return {h: self.rate(h) for h in sorted(self._outcomes)}

    def counts(self) -> dict[int, int]:
        return {h: self.count(h) for h in sorted(self._outcomes)}

    def state(self) -> list[list[Any]]:
        return [[h, [int(x) for x in self._outcomes[h]]] for h in sorted(self._outcomes)]

    def load(self, state: Sequence[Sequence[Any]]) -> None:
        self._outcomes = {
            int(h): deque((bool(x) for x in xs), maxlen=self.window) for h, xs in state
        }


def _check_config(kind: str, config: dict[str, Any], state: Mapping[str, Any]) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"state is for a {state.get('kind')!r} curriculum, not {kind!r}")
    if state.get("config") != config:
        raise ValueError(
            f"curriculum config changed since the checkpoint: saved {state.get('config')}, "
            f"now {config}"
        )


class PatternCurriculum:
    """The paper's code: within each group, rollout ``j`` executes ``ladder[j % len(ladder)]``
    (e.g. ``[5, 10, 15]`` with ``H = 15``). The ladder never changes; success per horizon is
    logged over the last ``window`` rollouts at each ``h`` (all of them if None)."""

    kind = "pattern"

    def __init__(self, ladder: Sequence[int], window: int | None = None) -> None:
        if not ladder or any(int(h) < 1 for h in ladder):
            raise ValueError(f"ladder must be a non-empty list of lengths >= 1, got {ladder}")
        self.ladder = [int(h) for h in ladder]
        self.log = HorizonLog(window)
        self.iteration = 0  # update() calls so far

    def assign(self, group_size: int) -> list[int]:
        return cyclic(self.ladder, group_size)

    def update(self, h_list: Sequence[int], success_list: Sequence[bool]) -> None:
        self.log.add(h_list, success_list)
        self.iteration += 1

    def per_horizon_success(self) -> dict[int, float]:
        return self.log.rates()

    def _config(self) -> dict[str, Any]:
        return {"ladder": list(self.ladder), "window": self.log.window}

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "config": self._config(),
            "iteration": self.iteration,
            "outcomes": self.log.state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (also after a JSON round trip); the curriculum must
        have been built with the same config."""
        _check_config(self.kind, self._config(), state)
        self.iteration = int(state["iteration"])
        self.log.load(state["outcomes"])


class FrontierCurriculum:
    """Reliability frontier ``h*`` (ours, beyond the paper).

    The ladder is ``{h*, h*+d, …, H}`` (``H`` appended when ``H − h*`` is not a multiple of
    ``d``, so the plan's full length is always explored); groups are assigned cyclically from it.
    After each :meth:`update`, ``h*`` moves to the next rung ``min(h*+d, H)`` when the windowed
    success rate there is at least ``tau · sr_base`` *and* the window there is full (at least
    ``window`` outcomes recorded: a handful of lucky rollouts must not move it). At most one rung
    per update; ``h*`` never moves back. Each move is kept in :attr:`history`.

    ``start_h``: the base policy's largest reliable ``h``
    (:func:`ptrim.profiling.reliable_exec_len`); ``sr_base``: the base policy's success rate
    (a fraction) at its default ``h``.
    """

    kind = "frontier"

    def __init__(
        self, start_h: int, H: int, step: int, tau: float, window: int, sr_base: float
    ) -> None:
        if not 1 <= start_h <= H:
            raise ValueError(f"need 1 <= start_h <= H, got start_h={start_h}, H={H}")
        if step < 1:
            raise ValueError(f"step d must be >= 1, got {step}")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0.0 <= sr_base <= 1.0:
            raise ValueError(f"sr_base is a success rate in [0, 1], got {sr_base}")
        self.start_h, self.H, self.step = int(start_h), int(H), int(step)
        self.tau, self.sr_base = float(tau), float(sr_base)
        self.log = HorizonLog(int(window))
        self.frontier = self.start_h  # h*
        self.iteration = 0  # update() calls so far
        self.history: list[dict[str, Any]] = []  # one entry per move of h*

    @property
    def window(self) -> int:
        return int(self.log.window or 0)

    @property
    def threshold(self) -> float:
        """The success rate the next rung must reach: ``tau · sr_base``."""
        return self.tau * self.sr_base

    @property
    def ladder(self) -> list[int]:
        rungs = list(range(self.frontier, self.H + 1, self.step))
        return rungs if rungs[-1] == self.H else [*rungs, self.H]

    def next_rung(self) -> int | None:
        """``min(h* + d, H)``, or None once ``h* = H``."""
        return None if self.frontier >= self.H else min(self.frontier + self.step, self.H)

    def assign(self, group_size: int) -> list[int]:
        return cyclic(self.ladder, group_size)

    def update(self, h_list: Sequence[int], success_list: Sequence[bool]) -> None:
        """Record outcomes (any ``h``), then advance ``h*`` by one rung if the next rung holds."""
        self.log.add(h_list, success_list)
        self.iteration += 1
        nxt = self.next_rung()
        if nxt is None:
            return
        n, sr = self.log.count(nxt), self.log.rate(nxt)
        if n >= self.window and sr >= self.threshold - SR_TOLERANCE:
            self.history.append(
                {"iteration": self.iteration, "from": self.frontier, "to": nxt, "sr": sr, "n": n}
            )
            self.frontier = nxt

    def per_horizon_success(self) -> dict[int, float]:
        return self.log.rates()

    def _config(self) -> dict[str, Any]:
        return {
            "start_h": self.start_h,
            "H": self.H,
            "step": self.step,
            "tau": self.tau,
            "window": self.window,
            "sr_base": self.sr_base,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "config": self._config(),
            "frontier": self.frontier,
            "iteration": self.iteration,
            "history": [dict(e) for e in self.history],
            "outcomes": self.log.state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output (also after a JSON round trip); the curriculum must
        have been built with the same config."""
        _check_config(self.kind, self._config(), state)
        self.frontier = int(state["frontier"])
        self.iteration = int(state["iteration"])
        self.history = [dict(e) for e in state["history"]]
        self.log.load(state["outcomes"])


def select_stage2_horizon(
    per_horizon_sr: Mapping[int, float], sr_base: float, tolerance: float
) -> int:
    """Stage 2's execution length: the longest ``h`` whose success rate holds,
    ``SR(h) ≥ reference − tolerance`` (fractions; :data:`SR_TOLERANCE` float slack).

    ``reference`` is the base policy's success rate ``sr_base`` or, when lower, the rate of the
    shortest logged ``h`` (the curriculum's most conservative rung). The logged rates come from
    stage 1's *sampled* rollouts (flow-SDE noise, OFT's temperature) while ``sr_base`` is the
    profiled, deterministic one: on LIBERO-Object ``pi05`` samples 69–84 % at its base h = 5
    against a profiled 84 %, so with ``sr_base`` alone no rung, not even the base h, could
    hold. Against the shortest rung every ``h`` is compared with a rate measured the same way.

    Every ``h`` is judged on its own (a dip at a shorter ``h`` does not rule out a longer one).
    If none holds, the smallest logged ``h`` (the most conservative) is returned. NaN rates
    (no samples) are ignored; raises ValueError when no ``h`` has a rate.
    """
    rates = {int(h): float(sr) for h, sr in per_horizon_sr.items() if math.isfinite(float(sr))}
    if not rates:
        raise ValueError("select_stage2_horizon: no horizon has a success rate")
    reference = min(sr_base, rates[min(rates)])
    holds = [h for h, sr in rates.items() if sr >= reference - tolerance - SR_TOLERANCE]
    return max(holds) if holds else min(rates)
