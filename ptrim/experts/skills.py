"""Motion skills for scripted experts, written as generators of actions.

An expert is a generator: it reads the scene, ``yield`` s one OSC action, and is resumed after the
environment stepped. Skills compose with ``yield from``, so a task reads like its recipe::

    yield from pick(ctx, "alphabet_soup_1")
    yield from place_above(ctx, basket_drop_point)

Every decision is triggered by something the policy can see (a pose reached, fingers that
stopped moving), never by a hidden timer, so behaviour cloning can learn when to act.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from ptrim.experts.control import pose_action, top_down
from ptrim.experts.redundancy import Redundancy
from ptrim.experts.scene import Scene

OPEN, CLOSE = -1.0, 1.0
# position command caps (fraction of 5 cm/step): free moves, final approaches, pulling/holding
FAST, CAREFUL, FORCEFUL = 1.0, 0.5, 0.4
Actions = Generator[np.ndarray, None, None]


@dataclass
class Context:
    """What a running expert carries: the scene, its random source, the redundancy injector."""

    scene: Scene
    rng: np.random.Generator
    rot: Rotation = field(default_factory=lambda: top_down(0.0))  # target gripper orientation
    gripper: float = OPEN
    step: int = 0  # env steps taken so far (the driver updates it)
    redundancy: Redundancy | None = None  # human-like redundancy; None: near-minimal expert

    @property
    def yaw(self) -> float:
        """Rotation of the target orientation about the vertical (top-down grasps)."""
        x = self.rot.apply([1.0, 0.0, 0.0])
        return float(np.arctan2(x[1], x[0]))

    @yaw.setter
    def yaw(self, value: float) -> None:
        self.rot = top_down(value)


def act(ctx: Context, target: np.ndarray, *, speed: float = 0.6, gain: float = 1.0) -> np.ndarray:
    s = ctx.scene
    return pose_action(
        s.eef_pos, s.eef_quat, target, ctx.rot, ctx.gripper, max_speed=speed, gain=gain
    )


def move_to(
    ctx: Context,
    target: np.ndarray | Callable[[], np.ndarray],
    *,
    tol: float = 0.01,
    speed: float = FAST,
    max_steps: int = 80,
    stall_steps: int = 6,
    until: Callable[[], bool] | None = None,
    inject: bool = True,
) -> Actions:
    """Move the end effector to ``target`` (a point or a function of the scene) with the current
    yaw and gripper command; done within ``tol`` metres and aligned, or when progress stalls
    (the arm is blocked) for ``stall_steps``, or after ``max_steps``, or as soon as ``until()``
    holds (a drawer that opened, a knob that turned). Free moves (``speed=FAST``) are where a
    redundant expert hesitates, detours and slows down (``inject=False`` to prevent it)."""
    get = target if callable(target) else (lambda: target)
    r = ctx.redundancy
    if r is not None and inject and speed >= FAST:
        if ctx.step < r.budget_steps:  # near the step limit even a slow demonstrator hurries
            speed *= r.speed_scale
        yield from r.before_move(
            ctx,
            np.asarray(get()),
            hold=lambda p: act(ctx, p, speed=FORCEFUL),
            move=lambda w: move_to(ctx, w, tol=0.03, speed=speed, inject=False),
        )
    best, stalled = np.inf, 0
    for _ in range(max_steps):
        if until is not None and until():
            return
        goal = np.asarray(get())
        err = float(np.linalg.norm(goal - ctx.scene.eef_pos))
        aligned = (ctx.rot * Rotation.from_quat(ctx.scene.eef_quat).inv()).magnitude() < 0.08
        if err < tol and aligned:
            return
        if err < best - 1e-3:
            best, stalled = err, 0
        else:
            stalled += 1
            if stalled >= stall_steps and err < 4 * tol:
                return
        yield act(ctx, goal, speed=speed)


def set_gripper(
    ctx: Context, command: float, hold: np.ndarray | None = None, max_steps: int = 25
) -> Actions:
    """Open or close the fingers in place; done when they stop moving (visible in proprio)."""
    ctx.gripper = command
    hold = ctx.scene.eef_pos.copy() if hold is None else hold
    last = ctx.scene.gripper_width
    still = 0
    for i in range(max_steps):
        yield act(ctx, hold, speed=FORCEFUL)
        width = ctx.scene.gripper_width
        still = still + 1 if abs(width - last) < 5e-4 else 0
        last = width
        if i >= 2 and still >= 2:
            return


def rotate_to(
    ctx: Context,
    yaw: float,
    hold: np.ndarray | None = None,
    max_steps: int = 30,
    until: Callable[[], bool] | None = None,
) -> Actions:
    """Turn a top-down gripper about the vertical to ``yaw`` in place."""
    yield from orient(ctx, top_down(yaw), hold, max_steps, until)


def orient(
    ctx: Context,
    rot: Rotation,
    hold: np.ndarray | None = None,
    max_steps: int = 40,
    until: Callable[[], bool] | None = None,
) -> Actions:
    """Turn the gripper to orientation ``rot`` while holding its position."""
    ctx.rot = rot
    hold = ctx.scene.eef_pos.copy() if hold is None else hold
    for _ in range(max_steps):
        if (ctx.rot * Rotation.from_quat(ctx.scene.eef_quat).inv()).magnitude() < 0.05:
            return
        if until is not None and until():
            return
        yield act(ctx, hold, speed=FORCEFUL)


def set_width(
    ctx: Context, width: float, hold: np.ndarray | None = None, max_steps: int = 25
) -> Actions:
    """Open or close the fingers to ``width`` metres apart, then keep them there."""
    hold = ctx.scene.eef_pos.copy() if hold is None else hold
    for _ in range(max_steps):
        err = width - ctx.scene.gripper_width
        if abs(err) < 0.004:
            break
        ctx.gripper = OPEN if err > 0 else CLOSE
        yield act(ctx, hold, speed=FORCEFUL)
    ctx.gripper = 0.0  # the Panda gripper holds its fingers where they are on a zero command


def wrap_yaw(yaw: float) -> float:
    """The gripper is symmetric under a half turn: keep yaw in [-pi/2, pi/2)."""
    return (yaw + np.pi / 2) % np.pi - np.pi / 2
