"""Meta-World's shipped scripted policies as experts, with the same redundancy knob as LIBERO's.

Meta-World's policies are reactive (``get_action(state) -> action`` from the 39-D privileged
state), so redundancy is injected around them rather than inside skills
(:class:`ptrim.experts.redundancy.Redundancy` draws and records the events):

* **hesitation** — while the hand moves, hold still (gripper command kept) for 6–35 steps;
* **detour** — for 5–10 steps, push the hand sideways (perpendicular to where the policy wants
  to go, never down); the policy then steers back;
* **misalignment** — before the policy closes the gripper, aim 1.5–3 cm off for a few steps;
* **slow moves** — the whole demonstration's hand speed is scaled by ``speed_scale``.

(Re-grasps are not injected: a reactive policy re-opens only if the grasp actually failed.)
Events start only before ``budget_steps``, so a redundant demonstration still finishes.
"""

from __future__ import annotations

import importlib

import numpy as np

from ptrim.experts.redundancy import P_DETOUR, P_HESITATE, P_MISALIGN, Redundancy

MOVE_SPEED = 0.3  # |xyz action| above which the hand counts as moving freely
OPPORTUNITY_EVERY = 12  # steps between chances to start an event while moving


def scripted_policy(task: str):
    """Meta-World's scripted policy for ``task`` (``metaworld.policies.ENV_POLICY_MAP``)."""
    policies = importlib.import_module("metaworld.policies")
    if task not in policies.ENV_POLICY_MAP:
        raise ValueError(
            f"Meta-World ships no scripted policy for {task!r}; tasks with one: "
            f"{sorted(policies.ENV_POLICY_MAP)}"
        )
    return policies.ENV_POLICY_MAP[task]()


class MetaWorldExpert:
    """The scripted policy of one task with injected redundancy. ``act(state, step)`` returns
    the 4-D action; ``redundancy.events`` lists what was injected."""

    def __init__(self, task: str, level: float, rng: np.random.Generator, budget_steps: int):
        self.task = task
        self.policy = scripted_policy(task)
        self.redundancy = Redundancy(level, rng, budget_steps)
        self.rng = rng
        self._queue: list[tuple[str, np.ndarray | None]] = []  # (kind, xyz override) per step
        self._event: tuple[str, int] | None = None  # kind, start step of the running event
        self._last_grip = -1.0

    @property
    def events(self) -> list[dict]:
        return self.redundancy.events

    def act(self, state: np.ndarray, step: int) -> np.ndarray:
        action = np.asarray(self.policy.get_action(state), dtype=np.float64).copy()
        xyz = action[:3]
        if not self._queue:
            self._finish(step)
            self._maybe_start(state, action, step)
        if self._queue:
            _, override = self._queue.pop(0)
            if override is not None:
                action[:3] = override
            elif self._event and self._event[0] == "hesitation":
                action[:3] = 0.0
        else:
            action[:3] = xyz * self.redundancy.speed_scale
        self._last_grip = float(action[3])
        return np.clip(action, -1.0, 1.0)

    # ------------------------------------------------------------------ events
    def _maybe_start(self, state: np.ndarray, action: np.ndarray, step: int) -> None:
        red = self.redundancy
        moving = float(np.linalg.norm(action[:3])) > MOVE_SPEED
        closing = action[3] > 0 > self._last_grip
        if closing and red._draw(P_MISALIGN, step):
            angle = self.rng.uniform(0, 2 * np.pi)
            off = np.array([np.cos(angle), np.sin(angle), 0.0]) * self.rng.uniform(0.6, 1.0)
            n = int(self.rng.integers(3, 7))
            self._start("misalignment", step, [off] * n + [-off] * n)
            return
        if not moving or step % OPPORTUNITY_EVERY:
            return
        if red._draw(P_HESITATE, step):
            n = int(self.rng.integers(6, 10 + int(25 * red.level)))
            self._start("hesitation", step, [None] * n)
        elif red._draw(P_DETOUR, step):
            want = action[:3] / max(float(np.linalg.norm(action[:3])), 1e-9)
            side = self.rng.normal(size=3) * [1, 1, 0.4]
            side -= (side @ want) * want
            side /= max(float(np.linalg.norm(side)), 1e-9)
            side[2] = abs(side[2])  # detours never push toward the table
            n = int(self.rng.integers(5, 11))
            self._start("detour", step, [side] * n)

    def _start(self, kind: str, step: int, overrides: list) -> None:
        self._event = (kind, step)
        self._queue = [(kind, o) for o in overrides]

    def _finish(self, step: int) -> None:
        if self._event is not None:
            kind, start = self._event
            self.redundancy.record(kind, start, step - start)
            self._event = None
