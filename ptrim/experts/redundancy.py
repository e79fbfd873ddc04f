"""Human-like redundancy, injected into scripted experts at a controlled rate.

The paper's premise is that deployed policies carry redundant, corrective motion because their
demonstrations do. A scripted expert at ``level = 0`` is near-minimal; at higher levels it
behaves like a teleoperator: it hesitates, takes detours, misaligns its approach and corrects,
misses a grasp and re-grasps, and moves more slowly on some demonstrations. Every injected event
is recorded (kind, step, duration) so the redundancy of a demonstration is known, not guessed.

Events are only started before ``budget_steps`` (a fraction of the task's step limit), so a
redundant demonstration still finishes in time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Per-opportunity probabilities at level 1 (scaled linearly by the level).
P_HESITATE = 0.5  # before a free move: pause
P_DETOUR = 0.45  # on a free move longer than 8 cm: pass through a noisy intermediate waypoint
P_MISALIGN = 0.5  # before a grasp: descend off-target, notice, correct
P_REGRASP = 0.25  # at a grasp: close too high (a deliberate miss), open, grasp again
EVENT_KINDS = ("hesitation", "detour", "misalignment", "regrasp")  # what `events` records
MAX_SLOWDOWN = 0.55  # free-move speed scaled by U(1 - MAX_SLOWDOWN * level, 1) per demo


@dataclass
class Redundancy:
    """The injector a :class:`ptrim.experts.skills.Context` carries (``None`` = level 0)."""

    level: float
    rng: np.random.Generator
    budget_steps: int
    events: list[dict] = field(default_factory=list)
    speed_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.level <= 1.0:
            raise ValueError(f"redundancy level must be in [0, 1], got {self.level}")
        self.speed_scale = float(1.0 - MAX_SLOWDOWN * self.level * self.rng.random())

    def _draw(self, p: float, step: int) -> bool:
        return self.level > 0 and step < self.budget_steps and self.rng.random() < p * self.level

    def record(self, kind: str, step: int, steps: int, **info) -> None:
        self.events.append({"kind": kind, "step": int(step), "steps": int(steps), **info})

    # ---------------------------------------------------------------- hooks used by skills
    def before_move(self, ctx, goal: np.ndarray, hold: Callable, move: Callable):
        """Maybe hesitate, maybe detour, before a free move to ``goal``."""
        if self._draw(P_HESITATE, ctx.step):
            n = int(self.rng.integers(6, 10 + int(25 * self.level)))
            start = ctx.step
            here = ctx.scene.eef_pos.copy()
            for _ in range(n):
                yield hold(here)
            self.record("hesitation", start, ctx.step - start)
        dist = float(np.linalg.norm(goal - ctx.scene.eef_pos))
        if dist > 0.08 and self._draw(P_DETOUR, ctx.step):
            start = ctx.step
            here = ctx.scene.eef_pos.copy()
            way = here + (goal - here) * self.rng.uniform(0.3, 0.7)
            side = self.rng.normal(size=3) * [1, 1, 0.4]
            side -= side @ (goal - here) / dist**2 * (goal - here)  # perpendicular to the path
            way += side / max(np.linalg.norm(side), 1e-9) * self.rng.uniform(0.05, 0.12)
            way[2] = max(way[2], here[2], goal[2])  # detours never dip toward the table
            yield from move(way)
            self.record("detour", start, ctx.step - start, offset=np.round(way - here, 3).tolist())

    def before_grasp(self, ctx, point: Callable[[], np.ndarray], move: Callable, grip: Callable):
        """Maybe misalign the approach and correct it, maybe miss the grasp and re-grasp."""
        if self._draw(P_MISALIGN, ctx.step):
            start = ctx.step
            angle = self.rng.uniform(0, 2 * np.pi)
            off = self.rng.uniform(0.015, 0.03) * np.array([np.cos(angle), np.sin(angle), 0.0])
            yield from move(lambda: point() + off + [0, 0, 0.02])
            self.record("misalignment", start, ctx.step - start, offset=np.round(off, 3).tolist())
        if self._draw(P_REGRASP, ctx.step):
            start = ctx.step
            too_high = float(self.rng.uniform(0.025, 0.04))
            yield from move(lambda: point() + [0, 0, too_high])
            yield from grip(closed=True)
            yield from grip(closed=False)
            self.record("regrasp", start, ctx.step - start)
