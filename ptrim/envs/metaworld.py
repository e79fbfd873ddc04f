"""Meta-World v3 adapter: one task of MT10 / MT50, headless (MuJoCo EGL), rendered on request.

* Suites ``metaworld_mt10`` (the 10 MT10 tasks) and ``metaworld_mt50`` (all 50), tasks by
  index (sorted by name) or name (``"pick-place-v3"``). Each task's evaluation set is the 50
  goal/object configurations of ``metaworld.MT1(task, seed=EVAL_SEED)``: fixed, the same on
  every machine.
* Actions: 4-D in [-1, 1] (end-effector xyz delta, gripper: -1 open, +1 close); Meta-World
  runs 5 physics steps of 2.5 ms per action (80 Hz).
* Observations: ``agentview`` is the ``corner`` camera, ``wrist`` the ``gripperPOV`` camera,
  128² by default, shadows and reflections off (4–5× cheaper in software rendering, GROUND.md);
  the corner camera is mounted upside down, so its image is rotated 180° (upright, not
  mirrored). Proprioception: hand position (3) and gripper opening (1), float32.
* Success: Meta-World's ``info["success"]``; the step limit is the paper's 100.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede mujoco's import
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import functools
import warnings

import numpy as np

from ptrim.envs.base import Observation

EVAL_SEED = 0  # metaworld.MT1(task, seed=EVAL_SEED).train_tasks: each task's 50 configurations
ACTION_DIM = 4
PROPRIO_DIM = 4
CAMERAS = {"agentview": "corner", "wrist": "gripperPOV"}
ROTATED = {"corner"}  # cameras Meta-World mounts upside down
SUITES = ("metaworld_mt10", "metaworld_mt50")

# What a person would say to a robot for each task (Meta-World names its tasks, not goals).
INSTRUCTIONS = {
    "assembly-v3": "put the ring on the peg",
    "basketball-v3": "dunk the ball into the basket",
    "bin-picking-v3": "move the cube from one bin to the other",
    "box-close-v3": "put the lid on the box",
    "button-press-topdown-v3": "press the button from the top",
    "button-press-topdown-wall-v3": "press the button behind the wall from the top",
    "button-press-v3": "press the button",
    "button-press-wall-v3": "press the button behind the wall",
    "coffee-button-v3": "press the button on the coffee machine",
    "coffee-pull-v3": "pull the mug away from the coffee machine",
    "coffee-push-v3": "push the mug under the coffee machine",
    "dial-turn-v3": "turn the dial",
    "disassemble-v3": "take the ring off the peg",
    "door-close-v3": "close the door",
    "door-lock-v3": "lock the door by turning the lock",
    "door-open-v3": "open the door",
    "door-unlock-v3": "unlock the door by turning the lock",
    "drawer-close-v3": "close the drawer",
    "drawer-open-v3": "open the drawer",
    "faucet-close-v3": "turn the faucet off",
    "faucet-open-v3": "turn the faucet on",
    "hammer-v3": "hammer the nail into the wall",
    "hand-insert-v3": "put the puck into the hole",
    "handle-press-side-v3": "press the handle down from the side",
    "handle-press-v3": "press the handle down",
    "handle-pull-side-v3": "pull the handle up from the side",
    "handle-pull-v3": "pull the handle up",
    "lever-pull-v3": "pull the lever up",
    "peg-insert-side-v3": "insert the peg into the hole from the side",
    "peg-unplug-side-v3": "unplug the peg from the side",
    "pick-out-of-hole-v3": "pick the puck out of the hole",
    "pick-place-v3": "pick up the puck and place it at the goal",
    "pick-place-wall-v3": "pick up the puck and place it at the goal behind the wall",
    "plate-slide-back-side-v3": "slide the plate back into the cabinet from the side",
    "plate-slide-back-v3": "slide the plate back into the cabinet",
    "plate-slide-side-v3": "slide the plate into the cabinet from the side",
    "plate-slide-v3": "slide the plate into the cabinet",
    "push-back-v3": "push the puck back to the goal",
    "push-v3": "push the puck to the goal",
    "push-wall-v3": "push the puck to the goal behind the wall",
    "reach-v3": "reach the goal position",
    "reach-wall-v3": "reach the goal position behind the wall",
    "shelf-place-v3": "place the puck on the shelf",
    "soccer-v3": "kick the ball into the goal",
    "stick-pull-v3": "pull the bottle with the stick",
    "stick-push-v3": "push the bottle with the stick",
    "sweep-into-v3": "sweep the puck into the hole",
    "sweep-v3": "sweep the puck off the table",
    "window-close-v3": "close the window",
    "window-open-v3": "open the window",
}


def _metaworld():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's deprecation chatter on import
        import metaworld
    return metaworld


@functools.cache
def task_names(suite: str) -> tuple[str, ...]:
    """The tasks of ``suite``, sorted by name (the index order)."""
    if suite not in SUITES:
        raise ValueError(f"unknown Meta-World suite {suite!r}; valid: {list(SUITES)}")
    _metaworld()
    from metaworld import env_dict

    return tuple(sorted(env_dict.MT10_V3 if suite == "metaworld_mt10" else env_dict.MT50_V3))


def resolve_task(suite: str, task: int | str) -> str:
    names = task_names(suite)
    if isinstance(task, int | np.integer):
        if not 0 <= int(task) < len(names):
            raise IndexError(f"{suite} has tasks 0..{len(names) - 1}, got {task}")
        return names[int(task)]
    if task not in names:
        raise ValueError(f"{task!r} is not a {suite} task; valid: {list(names)}")
    return str(task)


def _viewer(view):
    """The offscreen viewer (and GL context) of one gymnasium Meta-World env."""
    return view.mujoco_renderer._get_viewer("rgb_array")


class MetaWorldEnv:
    """One Meta-World task. See the module docstring for conventions."""

    benchmark = "metaworld"
    action_dim = ACTION_DIM
    proprio_dim = PROPRIO_DIM

    def __init__(
        self,
        suite: str,
        task: int | str,
        *,
        image_size: int = 128,
        cameras: tuple[str, ...] = ("agentview",),
        max_steps: int = 100,
        seed: int = 0,
    ) -> None:
        import mujoco

        self.suite = suite
        self.task = resolve_task(suite, task)
        unknown = [c for c in cameras if c not in CAMERAS]
        if unknown or not cameras:
            raise ValueError(f"unknown cameras {unknown}; valid: {list(CAMERAS)}")
        self.cameras = tuple(cameras)
        self.image_size = int(image_size)
        self.max_steps = int(max_steps)
        self.instruction = INSTRUCTIONS[self.task]
        mw = _metaworld()
        bench = mw.MT1(self.task, seed=EVAL_SEED)
        self._tasks = list(bench.train_tasks)
        cls = bench.train_classes[self.task]
        # one gymnasium env per camera (each owns an offscreen renderer); they share nothing,
        # so the extra ones copy the first one's state before rendering
        self._env = cls(
            render_mode="rgb_array",
            camera_name=CAMERAS[self.cameras[0]],
            width=self.image_size,
            height=self.image_size,
        )
        self._views = {self.cameras[0]: self._env}
        for cam in self.cameras[1:]:
            self._views[cam] = cls(
                render_mode="rgb_array",
                camera_name=CAMERAS[cam],
                width=self.image_size,
                height=self.image_size,
            )
        for view in self._views.values():
            view.set_task(self._tasks[0])
            view.reset(seed=seed)
            viewer = _viewer(view)
            viewer.scn.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            viewer.scn.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        self.control_hz = 1.0 / float(self._env.dt)
        self._obs: np.ndarray | None = None

    # ------------------------------------------------------------------ episode
    def num_init_states(self) -> int:
        return len(self._tasks)

    def reset(self, init_state: int) -> None:
        n = len(self._tasks)
        if not 0 <= init_state < n:
            raise IndexError(f"{self.task}: initial state {init_state} out of range 0..{n - 1}")
        self._env.set_task(self._tasks[init_state])
        self._obs, _ = self._env.reset()

    def step(self, action: np.ndarray) -> bool:
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._obs, _, _, _, info = self._env.step(action)
        return bool(info["success"])

    def observe(self) -> Observation:
        import mujoco

        images = {}
        for cam, view in self._views.items():
            if view is not self._env:
                view.set_state(self._env.data.qpos, self._env.data.qvel)
                view.data.mocap_pos[:] = self._env.data.mocap_pos
                view.data.mocap_quat[:] = self._env.data.mocap_quat
                mujoco.mj_forward(view.model, view.data)
            _viewer(view).make_context_current()  # another env may have made its own current
            img = view.render()
            if CAMERAS[cam] in ROTATED:
                img = img[::-1, ::-1]
            images[cam] = np.ascontiguousarray(img)
        return {"images": images, "proprio": self.proprio(), "instruction": self.instruction}

    def proprio(self) -> np.ndarray:
        return np.asarray(self.state_obs()[:PROPRIO_DIM], dtype=np.float32)

    def state_obs(self) -> np.ndarray:
        """Meta-World's 39-D state observation (privileged: experts read it, policies do not)."""
        if self._obs is None:
            raise RuntimeError("reset() first")
        return self._obs

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        d = self._env.data
        return np.concatenate(
            [d.qpos, d.qvel, d.mocap_pos.ravel(), d.mocap_quat.ravel(), self._obs]
        ).copy()

    def set_state(self, state: np.ndarray) -> None:
        import mujoco

        m, d = self._env.model, self._env.data
        state = np.asarray(state, dtype=np.float64)
        sizes = [m.nq, m.nv, d.mocap_pos.size, d.mocap_quat.size]
        qpos, qvel, mpos, mquat, obs = np.split(state, np.cumsum(sizes))
        d.qpos[:], d.qvel[:] = qpos, qvel
        d.mocap_pos[:] = mpos.reshape(d.mocap_pos.shape)
        d.mocap_quat[:] = mquat.reshape(d.mocap_quat.shape)
        mujoco.mj_forward(m, d)
        self._obs = obs.copy()

    def close(self) -> None:
        # free each view's GL objects in its own context, now: left to the garbage collector,
        # mujoco frees them in whichever context is current then — another env's, whose images
        # turn all black
        for view in getattr(self, "_views", {}).values():
            viewer = view.mujoco_renderer._viewers.get("rgb_array")
            if viewer is not None:
                viewer.make_context_current()
                viewer.con.free()
            view.close()
        self._views = {}

    def __del__(self) -> None:  # an env dropped without close() must not free in another's GL
        try:
            self.close()
        except Exception:  # interpreter shutdown: EGL may already be gone
            pass

    def __repr__(self) -> str:
        return f"MetaWorldEnv({self.suite}, {self.task!r}, {self.image_size}px, {self.cameras})"
