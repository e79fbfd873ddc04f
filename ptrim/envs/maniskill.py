"""ManiSkill3 adapter: one tabletop task, PhysX CPU simulation, rendered on request (SAPIEN CPU).

* Suite ``maniskill``: the tasks that need no asset download and whose shipped motion-planning
  solution (``mani_skill/examples/motionplanning/panda/solutions``) the expert
  (:mod:`ptrim.experts.maniskill`) turns into a reliable end-effector demonstration:
  ``PickCube-v1``, ``PullCube-v1``, ``PushCube-v1``, ``StackCube-v1``; by index (sorted by name)
  or name. Dropped: ``PegInsertionSide-v1`` — it rebuilds the scene on every reset (peg and hole
  sizes are drawn per episode, ~1 s each, and the flat simulator state does not carry them, so a
  saved state cannot be restored into another episode) and its millimetre-clearance insertion
  is beyond an end-effector-delta tracker.
* Evaluation set: initial state ``i`` is ``reset(seed=EVAL_SEED + i)``, ``i < NUM_INIT_STATES``;
  fixed and deterministic (ManiSkill seeds its episode RNG, torch included, from the seed).
* Robot: Panda with a wrist camera (``panda_wristcam``; same arm and gripper as ``panda``),
  always, so states do not depend on the cameras asked for.
* Actions: 7-D in [-1, 1], ManiSkill's ``pd_ee_delta_pose`` controller at 20 Hz (100 Hz physics):
  ``[dx, dy, dz]`` × 0.1 m (a target offset of the TCP from its current position, robot-base
  frame = world axes), ``[rx, ry, rz]`` × 0.1 rad (XYZ Euler rotation of the TCP about base axes,
  counter-clockwise positive; the 3-vector is clipped to norm 1), gripper ``-1`` open, ``+1``
  close (the project's convention). ManiSkill 3.0.1 opens its gripper on ``+1`` and turns the
  TCP by the *inverse* of its Euler delta (measured: a ``+rz`` command turns it clockwise about
  world z), so the adapter negates both. The controller is soft: within one 50 ms step the TCP
  covers ~40 % of a commanded offset (the next command is relative to where it got).
* Observations: ``agentview`` is the task's ``base_camera`` (front, looking at the table),
  ``wrist`` the ``hand_camera``; 128² by default, upright as rendered. The PickCube goal sphere,
  which ManiSkill hides from its cameras, is left visible: the policy has no other way to know
  the goal. Proprioception: TCP position (3, world frame, m) and gripper opening (1, sum of the
  two finger joints, m, 0–0.08), float32.
* Stepping never renders (``obs_mode="none"``); :meth:`ManiSkillEnv.observe` captures only the
  requested cameras.
* Success: ManiSkill's ``info["success"]`` (PickCube also requires the arm to be still). Step
  limits (``MAX_STEPS``): 80 for PushCube and PullCube, 100 for PickCube, 120 for StackCube
  (ManiSkill's own are 50; the minimal expert needs 25–55 steps, a level-0.9 one up to ~110).
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from ptrim.envs.base import Observation

EVAL_SEED = 1000  # initial state i = reset(seed=EVAL_SEED + i)
NUM_INIT_STATES = 50
ACTION_DIM = 7
PROPRIO_DIM = 4
CONTROL_MODE = "pd_ee_delta_pose"
ROBOT = "panda_wristcam"
CAMERAS = {"agentview": "base_camera", "wrist": "hand_camera"}
SUITES = ("maniskill",)
MAX_STEPS = {  # the step limit per task: room for a redundant (level 0.9) demonstration
    "PickCube-v1": 100,
    "PullCube-v1": 80,
    "PushCube-v1": 80,
    "StackCube-v1": 120,
}

INSTRUCTIONS = {
    "PickCube-v1": "pick up the red cube and move it to the green ball",
    "PullCube-v1": "pull the blue cube back onto the target",
    "PushCube-v1": "push the blue cube forward onto the target",
    "StackCube-v1": "stack the red cube on top of the green cube",
}
DROPPED = {
    "PegInsertionSide-v1": "reconfigures (new peg/hole sizes) on every reset; the flat state "
    "cannot restore them; mm-clearance insertion",
}


@functools.cache
def task_names(suite: str) -> tuple[str, ...]:
    """The tasks of ``suite``, sorted by name (the index order)."""
    if suite not in SUITES:
        raise ValueError(f"unknown ManiSkill suite {suite!r}; valid: {list(SUITES)}")
    return tuple(sorted(INSTRUCTIONS))


def resolve_task(suite: str, task: int | str) -> str:
    names = task_names(suite)
    if isinstance(task, int | np.integer):
        if not 0 <= int(task) < len(names):
            raise IndexError(f"{suite} has tasks 0..{len(names) - 1}, got {task}")
        return names[int(task)]
    if task not in names:
        why = f" (dropped: {DROPPED[task]})" if task in DROPPED else ""
        raise ValueError(f"{task!r} is not a {suite} task{why}; valid: {list(names)}")
    return str(task)


def make_sim(task: str, *, control_mode: str = CONTROL_MODE, image_size: int = 128):
    """A single-env ManiSkill simulator for ``task`` (PhysX CPU, SAPIEN CPU renderer, no
    per-step observations, no rewards); returns the unwrapped ``BaseEnv``."""
    import gymnasium as gym
    import mani_skill.envs  # noqa: F401  (registers the tasks)
    from mani_skill.utils.logging_utils import logger

    level = logger.level
    logger.setLevel(logging.ERROR)  # "panda_wristcam is not in the task's list of robots"
    try:
        env = gym.make(
            task,
            obs_mode="none",
            reward_mode="none",
            control_mode=control_mode,
            robot_uids=ROBOT,
            sim_backend="physx_cpu",
            render_backend="cpu",
            num_envs=1,
            sensor_configs=dict(width=image_size, height=image_size),
        )
    finally:
        logger.setLevel(level)
    return env.unwrapped


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


class ManiSkillEnv:
    """One ManiSkill3 task. See the module docstring for conventions."""

    benchmark = "maniskill"
    action_dim = ACTION_DIM
    proprio_dim = PROPRIO_DIM

    def __init__(
        self,
        suite: str,
        task: int | str,
        *,
        image_size: int = 128,
        cameras: tuple[str, ...] = ("agentview",),
        max_steps: int | None = None,
        seed: int = 0,
    ) -> None:
        self.suite = suite
        self.task = resolve_task(suite, task)
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown or not cameras:
            raise ValueError(f"unknown cameras {unknown}; valid: {list(CAMERAS)}")
        self.cameras = tuple(cameras)
        self.image_size = int(image_size)
        self.max_steps = int(max_steps or MAX_STEPS[self.task])
        self.instruction = INSTRUCTIONS[self.task]
        self.sim = make_sim(self.task, image_size=self.image_size)
        self.sim._hidden_objects.clear()  # show the goal (obs_mode="none" would not hide it anyway)
        self.sim.reset(seed=int(seed))  # builds the scene; reset(init_state) reseeds
        self.control_hz = float(self.sim.control_freq)
        self._ready = False

    # ------------------------------------------------------------------ episode
    def num_init_states(self) -> int:
        return NUM_INIT_STATES

    def reset(self, init_state: int) -> None:
        if not 0 <= init_state < NUM_INIT_STATES:
            raise IndexError(
                f"{self.task}: initial state {init_state} out of range 0..{NUM_INIT_STATES - 1}"
            )
        self.sim.reset(seed=EVAL_SEED + int(init_state))
        self._ready = True

    def step(self, action: np.ndarray) -> bool:
        import torch

        self._check_ready()
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"expected a {ACTION_DIM}-D action, got shape {action.shape}")
        action = np.clip(action, -1.0, 1.0)
        action[3:] = -action[3:]  # ManiSkill: +1 open, -1 closed; its rotation sign, see above
        _, _, _, _, info = self.sim.step(torch.from_numpy(action)[None])
        return bool(_np(info["success"]).reshape(-1)[0])

    def observe(self) -> Observation:
        self._check_ready()
        sim = self.sim
        sim.scene.update_render(update_sensors=True, update_human_render_cameras=False)
        sensors = {cam: sim.scene.sensors[CAMERAS[cam]] for cam in self.cameras}
        for sensor in sensors.values():
            sensor.capture()
        images = {}
        for cam, sensor in sensors.items():
            out = sensor.get_obs(rgb=True, depth=False, position=False, segmentation=False)
            images[cam] = np.ascontiguousarray(_np(out["rgb"])[0, ..., :3], dtype=np.uint8)
        return {"images": images, "proprio": self.proprio(), "instruction": self.instruction}

    def proprio(self) -> np.ndarray:
        self._check_ready()
        tcp = _np(self.sim.agent.tcp.pose.p)[0]
        fingers = _np(self.sim.agent.robot.get_qpos())[0, -2:]
        return np.concatenate([tcp, [fingers.sum()]]).astype(np.float32)

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (3) and orientation (quaternion wxyz), world frame, float64."""
        pose = self.sim.agent.tcp.pose
        return _np(pose.p)[0].astype(np.float64), _np(pose.q)[0].astype(np.float64)

    def _check_ready(self) -> None:
        if not self._ready:
            raise RuntimeError("reset() first")

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        """ManiSkill's flat simulator state (actor poses and velocities, robot root pose,
        qpos, qvel) as float64; the ``pd_ee_delta_pose`` controller keeps no state."""
        self._check_ready()
        return _np(self.sim.get_state())[0].astype(np.float64)

    def set_state(self, state: np.ndarray) -> None:
        import torch

        state = np.asarray(state, dtype=np.float64).reshape(-1)
        size = int(self.sim.get_state().shape[-1])
        if state.shape != (size,):
            raise ValueError(f"{self.task}: expected a state of size {size}, got {state.shape}")
        self.sim.set_state(torch.from_numpy(state.astype(np.float32))[None])
        self._ready = True

    def close(self) -> None:
        if getattr(self, "sim", None) is not None:
            self.sim.close()
            self.sim = None

    def __repr__(self) -> str:
        return f"ManiSkillEnv({self.suite}, {self.task!r}, {self.image_size}px, {self.cameras})"
