"""ManiSkill3's shipped motion-planning solutions as end-effector experts, with the same redundancy
knob as LIBERO's and Meta-World's.

ManiSkill ships one ``solve(env, seed)`` per task (``mani_skill.examples.motionplanning.panda
.solutions``): it computes grasp and goal poses from the scene and drives the arm with mplib
screw motions in ``pd_joint_pos``. The adapter acts through ``pd_ee_delta_pose``, so the expert
works in two stages:

1. **Plan** — the shipped ``solve`` runs unchanged on a private planning simulator
   (``pd_joint_pos``, never rendered) restored to the live state. A recording planner (a
   subclass of ManiSkill's ``PandaArmMotionPlanningSolver``) executes every call as usual and
   notes it: each successful ``move_to_pose_with_screw`` becomes a TCP pose keyframe, each
   ``open_gripper`` / ``close_gripper`` a gripper keyframe. Poses the solution computes from
   the scene mid-way (StackCube's placement, measured after the lift) are therefore the real
   ones of a successful execution.
2. **Act** — a closed-loop tracker in the live env moves the TCP in a straight line (as the
   screw motions do) toward each keyframe: position steps saturated at ``FAST`` (free moves) or
   ``CAREFUL`` (grasp descents, pushes and pulls) metres per step, rotation at most
   ``ROT_STEP`` rad per step; a keyframe is reached within ``TOL_FREE`` / ``TOL_FINE`` and
   ``TOL_ROT``, or when progress stalls. Gripper keyframes hold the pose until the fingers stop
   moving (a cue visible in proprioception, never a hidden timer).

Redundancy (:class:`ptrim.experts.redundancy.Redundancy`, level 0 = none) is injected through the
same hooks LIBERO's skills use:

* **hesitation** / **detour** — before each free move (``Redundancy.before_move``): hold still
  6–35 steps; pass through a waypoint 5–12 cm off the path, perpendicular to it, never lower;
* **misalignment** / **regrasp** — before each grasp descent (``Redundancy.before_grasp``): aim
  1.5–3 cm off and 4 cm high, then correct; close 4.5–6 cm too high, open, grasp again (both
  ``ABOVE`` higher than LIBERO's, so the fingers never land on the object);
* **slow moves** — free moves at ``speed_scale`` × ``FAST`` (drawn once per demonstration).

Contact moves (pushing, pulling, the grasp descent) are never perturbed. Events start only before
``budget_steps``, so a redundant demonstration still finishes within the step limit.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ptrim.envs.maniskill import make_sim
from ptrim.experts.redundancy import Redundancy

SOLUTIONS = {  # task -> module of mani_skill.examples.motionplanning.panda.solutions
    "PickCube-v1": "pick_cube",
    "PullCube-v1": "pull_cube",
    "PushCube-v1": "push_cube",
    "StackCube-v1": "stack_cube",
}
PUSH_TASKS = {"PushCube-v1", "PullCube-v1"}  # every move after the first one is in contact
POS_SCALE = 0.1  # m per step at |action| = 1 (pd_ee_delta_pose pos_upper)
ROT_SCALE = 0.1  # rad per step at |action| = 1 (rot_upper)
# The controller covers ~40 % of a commanded offset per step, so commands lead the TCP by GAIN x
# the error and the caps below are commanded offsets (the TCP moves ~0.4x as far per step).
GAIN = 2.0
FAST = 0.06  # m/step commanded: free moves (before speed_scale), ~2.4 cm/step travelled
CAREFUL = 0.025  # m/step commanded: grasp descents, pushes, pulls, holds
ROT_STEP = 0.095  # rad/step commanded at most (the controller clips the rotation at 0.1)
TOL_FREE, TOL_FINE, TOL_ROT = 0.01, 0.004, 0.03  # keyframe reached (m, m, rad)
ABOVE = 0.02  # m: extra height of misaligned approaches and deliberate misses (see _above)
BUDGET_FRACTION = 0.5  # redundancy events start only in this first part of the step limit
STALL_STEPS = 5  # a move with no progress for this many steps is over
OPEN, CLOSE = -1.0, 1.0  # the adapter's gripper convention


@dataclass
class Keyframe:
    """A TCP pose to move to (``pos``, ``quat`` wxyz, world frame) or a gripper command."""

    kind: str  # "move" or "grip"
    pos: np.ndarray | None = None
    quat: np.ndarray | None = None
    close: bool = False


def solution(task: str):
    """ManiSkill's shipped motion-planning ``solve`` function for ``task``."""
    if task not in SOLUTIONS:
        raise ValueError(
            f"no ManiSkill motion-planning expert for {task!r}; tasks with one: {sorted(SOLUTIONS)}"
        )
    mod = importlib.import_module(
        f"mani_skill.examples.motionplanning.panda.solutions.{SOLUTIONS[task]}"
    )
    return mod


@functools.cache
def planning_sim(task: str):
    """The private ``pd_joint_pos`` simulator the shipped solution runs on (one per task)."""
    sim = make_sim(task, control_mode="pd_joint_pos")
    sim.reset(seed=0)
    return sim


class _Restored:
    """What ``solve(env, seed)`` sees: a gym-like env whose reset restores a given state."""

    def __init__(self, sim, state):
        self.unwrapped = sim
        self._state = state

    def reset(self, seed=None, options=None):
        self.unwrapped.reset(seed=seed)
        self.unwrapped.set_state(self._state)

    def step(self, action):
        return self.unwrapped.step(action)


def _recording_planner(base: type, frames: list[Keyframe]) -> type:
    from mani_skill.utils.structs.pose import to_sapien_pose

    class RecordingPlanner(base):
        def move_to_pose_with_screw(self, pose, dry_run=False, refine_steps=0):
            res = super().move_to_pose_with_screw(pose, dry_run=dry_run, refine_steps=refine_steps)
            if not dry_run and not (isinstance(res, int) and res == -1):
                p = to_sapien_pose(pose)
                frames.append(Keyframe("move", np.array(p.p, float), np.array(p.q, float)))
            return res

        def close_gripper(self, t=6, gripper_state=None):
            frames.append(Keyframe("grip", close=True))
            return super().close_gripper(t, gripper_state)

        def open_gripper(self, t=6, gripper_state=None):
            frames.append(Keyframe("grip", close=False))
            return super().open_gripper(t, gripper_state)

    return RecordingPlanner


def plan(task: str, state: np.ndarray) -> tuple[list[Keyframe], bool]:
    """Run the shipped solution from ``state`` (the adapter's flat state) on the planning
    simulator; return its keyframes and whether that execution solved the task."""
    import torch

    mod = solution(task)
    sim = planning_sim(task)
    frames: list[Keyframe] = []
    original = mod.PandaArmMotionPlanningSolver
    mod.PandaArmMotionPlanningSolver = _recording_planner(original, frames)
    env = _Restored(sim, torch.from_numpy(np.asarray(state, np.float32))[None])
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the planner prints its failures
            res = mod.solve(env, seed=0)
    finally:
        mod.PandaArmMotionPlanningSolver = original
    solved = not (isinstance(res, int) and res == -1) and bool(sim.evaluate()["success"].any())
    return frames, solved


class _Scene:
    def __init__(self, env):
        self.env = env

    @property
    def eef_pos(self) -> np.ndarray:
        return self.env.tcp_pose()[0]


class ManiSkillExpert:
    """The shipped solution of one task, tracked in ``pd_ee_delta_pose``, with injected
    redundancy. ``act(step)`` returns the 7-D action for the live ``env``; ``events`` lists what
    was injected. The plan is made from the env's state at the first ``act`` (or ``plan()``)."""

    def __init__(self, env, task: str, level: float, rng: np.random.Generator, budget_steps: int):
        solution(task)  # fail early on a task without one
        self.env = env
        self.task = task
        self.rng = rng
        self.redundancy = Redundancy(level, rng, budget_steps)
        self.scene = _Scene(env)
        self.step = 0  # what Redundancy's hooks read as ``ctx.step``
        self.frames: list[Keyframe] | None = None
        self.plan_solved = False
        self.gripper = OPEN
        self._quat = None  # target orientation (wxyz) kept between moves
        self._script = None

    @property
    def events(self) -> list[dict]:
        return self.redundancy.events

    @property
    def speed_scale(self) -> float:
        return self.redundancy.speed_scale

    def plan(self) -> bool:
        self.frames, self.plan_solved = plan(self.task, self.env.get_state())
        return self.plan_solved

    def act(self, step: int) -> np.ndarray:
        self.step = int(step)
        if self._script is None:
            if self.frames is None:
                self.plan()
            self._script = self._run()
        return next(self._script)

    # ------------------------------------------------------------------ script
    def _run(self):
        frames = self.frames
        self._quat = self.env.tcp_pose()[1]
        moves = 0
        for i, kf in enumerate(frames):
            if kf.kind == "grip":
                yield from self._grip(kf.close)
                continue
            moves += 1
            nxt = frames[i + 1] if i + 1 < len(frames) else None
            descent = nxt is not None and nxt.kind == "grip" and nxt.close and self.gripper == OPEN
            contact = self.task in PUSH_TASKS and moves > 1
            free = not (descent or contact)
            red = self.redundancy
            if red.level > 0 and free:
                yield from red.before_move(self, kf.pos, self._hold, self._detour)
            if red.level > 0 and descent:
                yield from red.before_grasp(self, lambda kf=kf: kf.pos, self._above, self._grip_gen)
            self._quat = kf.quat
            yield from self._move(kf.pos, kf.quat, free=free, fine=not free or nxt is None)
        here = self.env.tcp_pose()[0]
        while True:  # done: hold still (PickCube counts only a still arm as success)
            yield self._action(here, self._quat, CAREFUL)

    def _speed(self, free: bool) -> float:
        if not free:
            return CAREFUL
        red = self.redundancy
        return FAST * (red.speed_scale if self.step < red.budget_steps else 1.0)

    def _move(self, pos, quat, *, free: bool, fine: bool, max_steps: int = 60):
        tol = TOL_FINE if fine else TOL_FREE
        best, stalled = np.inf, 0
        for _ in range(max_steps):
            p, q = self.env.tcp_pose()
            err = float(np.linalg.norm(pos - p))
            rot = _rot_error(quat, q)
            if err < tol and rot < TOL_ROT:
                return
            if err + rot * 0.05 < best - 5e-4:
                best, stalled = err + rot * 0.05, 0
            else:
                stalled += 1
                if stalled >= STALL_STEPS and err < 4 * tol:
                    return
            yield self._action(pos, quat, self._speed(free))

    def _detour(self, goal):
        get = goal if callable(goal) else (lambda: goal)
        goal = np.asarray(get(), dtype=np.float64)
        yield from self._move(goal, self._quat, free=True, fine=False)

    def _above(self, goal):
        """Moves of a misaligned or too-high approach, ``ABOVE`` higher than LIBERO's: the
        Panda's fingertips reach ~2 cm below its TCP and would land on the cube's top."""
        get = goal if callable(goal) else (lambda: goal)
        yield from self._detour(lambda: np.asarray(get(), dtype=np.float64) + [0, 0, ABOVE])

    def _hold(self, here):
        return self._action(here, self._quat, CAREFUL)

    def _grip(self, close: bool, max_steps: int = 15):
        self.gripper = CLOSE if close else OPEN
        here = self.env.tcp_pose()[0]
        last, still = self.env.proprio()[3], 0
        for i in range(max_steps):
            yield self._action(here, self._quat, CAREFUL)
            width = self.env.proprio()[3]
            still = still + 1 if abs(width - last) < 5e-4 else 0
            last = width
            if i >= 2 and still >= 2:
                return

    def _grip_gen(self, closed: bool):
        yield from self._grip(closed)

    def _action(self, pos, quat, speed: float) -> np.ndarray:
        p, q = self.env.tcp_pose()
        dpos = GAIN * (np.asarray(pos, dtype=np.float64) - p)
        norm = float(np.linalg.norm(dpos))
        if norm > speed:
            dpos *= speed / norm
        err = _rot(quat) * _rot(q).inv()
        vec = GAIN * err.as_rotvec()
        angle = float(np.linalg.norm(vec))
        if angle > ROT_STEP:
            vec *= ROT_STEP / angle
        drot = Rotation.from_rotvec(vec).as_euler("XYZ")  # the controller's Euler convention
        return np.concatenate([dpos / POS_SCALE, drot / ROT_SCALE, [self.gripper]]).clip(-1, 1)


def _rot(quat_wxyz) -> Rotation:
    w, x, y, z = quat_wxyz
    return Rotation.from_quat([x, y, z, w])


def _rot_error(target_wxyz, quat_wxyz) -> float:
    return float((_rot(target_wxyz) * _rot(quat_wxyz).inv()).magnitude())


def run_expert_episode(
    env,
    init_state: int,
    seed: int,
    level: float,
    *,
    max_steps: int | None = None,
    budget_frac: float = BUDGET_FRACTION,
) -> dict:
    """One demonstration from ``init_state``: the expert at redundancy ``level`` (its random
    draws seeded by ``seed``) acts until success or the step limit. Returns ``success``,
    ``steps``, ``actions`` [T, 7], ``states`` [T + 1, D] (simulator states, the first after
    reset: render them afterwards), ``events``, ``speed_scale`` and ``plan_solved``."""
    limit = int(max_steps or env.max_steps)
    env.reset(init_state)
    expert = ManiSkillExpert(
        env, env.task, level, np.random.default_rng(seed), int(budget_frac * limit)
    )
    expert.plan()
    actions, states = [], [env.get_state()]
    success = False
    for t in range(limit):
        a = expert.act(t)
        success = env.step(a)
        actions.append(np.asarray(a, dtype=np.float32))
        states.append(env.get_state())
        if success:
            break
    return {
        "success": bool(success),
        "steps": len(actions),
        "actions": np.asarray(actions, dtype=np.float32).reshape(-1, 7),
        "states": np.asarray(states),
        "events": list(expert.events),
        "speed_scale": expert.speed_scale,
        "plan_solved": expert.plan_solved,
    }
