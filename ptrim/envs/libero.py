"""LIBERO adapter: one task of one suite, headless (MuJoCo EGL), rendered only on request.

* Suites ``libero_spatial``, ``libero_object``, ``libero_goal``, ``libero_10`` (short names
  ``spatial``/``object``/``goal``/``long`` accepted); tasks by index (LIBERO task order 0) or name.
* The evaluation set is the 50 initial states LIBERO ships per task (loaded with
  ``torch.load(weights_only=True)`` and an allowlist of numpy types: nothing is unpickled).
* Actions: 7-D OSC_POSE deltas in [-1, 1] (xyz, rotation, gripper: -1 open, +1 close).
* Observations: agent-view and/or wrist RGB at ``image_size``², **upright** (LIBERO renders
  in the OpenGL convention, rows bottom-up; we flip rows, the true camera view — not the 180°
  rotation of OpenVLA-derived data, which mirrors left-right). Proprioception is
  ``[eef_pos(3), eef_axis_angle(3), gripper_qpos(2)]`` (float32, 8-D).
* Fast resets (``hard_reset=False``): a reset restores the MuJoCo state vector, then runs
  ``settle_steps`` no-op steps that are not counted as episode steps.
* ``visual_meshes="lowpoly"`` draws decimated copies of the meshes that only appear in images
  (:mod:`ptrim.envs.lowpoly`; collision meshes untouched, dynamics bit-identical), 2–3× cheaper
  to render in software; ``"full"`` draws LIBERO's original meshes.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede mujoco's import
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

import contextlib
import logging
from pathlib import Path
from typing import Literal

import numpy as np

from ptrim.envs import libero_setup
from ptrim.envs.base import Observation

CAMERA_NAMES = {"agentview": "agentview", "wrist": "robot0_eye_in_hand"}
PROPRIO_DIM = 8
ACTION_DIM = 7
NOOP_ACTION = np.array([0, 0, 0, 0, 0, 0, -1], dtype=np.float64)  # hold still, gripper open
VISUAL_MESHES = ("full", "lowpoly")


def _import_libero():
    """Prepare LIBERO (assets, config) and import it, quietly."""
    libero_setup.prepare()
    logging.getLogger("robosuite_logs").setLevel(logging.ERROR)
    from libero.libero import benchmark, get_libero_path
    from libero.libero.envs import OffScreenRenderEnv

    return benchmark, get_libero_path, OffScreenRenderEnv


def load_init_states(path: str | Path) -> np.ndarray:
    """LIBERO's ``*.pruned_init`` files are torch-saved numpy arrays; load them safely."""
    import torch

    allowed = [np.core.multiarray._reconstruct, np.ndarray, np.dtype, np.dtypes.Float64DType]
    with torch.serialization.safe_globals(allowed):
        states = torch.load(path, weights_only=True)
    return np.asarray(states, dtype=np.float64)


class LiberoEnv:
    """One LIBERO task. See the module docstring for conventions."""

    benchmark = "libero"
    action_dim = ACTION_DIM
    proprio_dim = PROPRIO_DIM

    def __init__(
        self,
        suite: str,
        task: int | str,
        *,
        image_size: int = 128,
        cameras: tuple[str, ...] = ("agentview", "wrist"),
        max_steps: int = 300,
        settle_steps: int = 10,
        control_hz: float = 20.0,
        seed: int = 0,
        visual_meshes: Literal["full", "lowpoly"] = "full",
    ) -> None:
        if visual_meshes not in VISUAL_MESHES:
            raise ValueError(f"visual_meshes = {visual_meshes!r}; valid: {list(VISUAL_MESHES)}")
        self.visual_meshes = visual_meshes
        self.suite = libero_setup.canonical_suite(suite)
        self.task = libero_setup.resolve_task(self.suite, task)
        unknown = [c for c in cameras if c not in CAMERA_NAMES]
        if unknown or not cameras:
            raise ValueError(f"unknown cameras {unknown}; valid: {list(CAMERA_NAMES)}")
        self.cameras = tuple(cameras)
        self.image_size = int(image_size)
        self.max_steps = int(max_steps)
        self.settle_steps = int(settle_steps)
        self.control_hz = float(control_hz)

        benchmark, get_libero_path, OffScreenRenderEnv = _import_libero()
        bench = benchmark.get_benchmark_dict()[self.suite]()
        spec = bench.get_task(bench.get_task_names().index(self.task))
        self.instruction: str = spec.language
        bddl = Path(get_libero_path("bddl_files")) / spec.problem_folder / spec.bddl_file
        self._init_states = load_init_states(
            Path(get_libero_path("init_states")) / spec.problem_folder / spec.init_states_file
        )
        # robosuite compiles the scene's XML inside the constructor; lowpoly_models swaps the
        # visual-only meshes for decimated copies there (the full ones if dynamics would change)
        with self._visual_meshes_context():
            self._env = OffScreenRenderEnv(
                bddl_file_name=str(bddl),
                camera_heights=self.image_size,
                camera_widths=self.image_size,
                use_camera_obs=False,  # never render inside step(); observe() renders on request
                control_freq=int(self.control_hz),
                horizon=10**9,  # the rollout enforces our step limit
                ignore_done=True,
                hard_reset=False,
            )
        self._env.seed(seed)
        self._env.reset()  # builds the sim once; later resets only restore states
        self._last: dict | None = None

    def _visual_meshes_context(self):
        if self.visual_meshes == "full":
            return contextlib.nullcontext()
        from ptrim.envs import lowpoly

        return lowpoly.lowpoly_models()

    # ------------------------------------------------------------------ episode
    def num_init_states(self) -> int:
        return len(self._init_states)

    def init_state(self, index: int) -> np.ndarray:
        n = len(self._init_states)
        if not 0 <= index < n:
            raise IndexError(f"{self.task}: initial state {index} out of range 0..{n - 1}")
        return self._init_states[index]

    def reset(self, init_state: int) -> None:
        self._env.reset()  # resets controllers and robosuite's internal counters (no reload)
        self._last = self._env.set_init_state(self.init_state(init_state))
        # State outside MuJoCo's state vector would leak one episode into the next (trajectories
        # from the same initial state then differ by ~1e-5): the solver's warm start and the
        # gripper's action smoothing, which robosuite keeps across soft resets.
        self._env.sim.data.qacc_warmstart[:] = 0
        for robot in self._env.robots:
            robot.gripper.current_action = np.zeros(robot.gripper.dof)
        for _ in range(self.settle_steps):
            self._last, *_ = self._env.step(NOOP_ACTION)

    def step(self, action: np.ndarray) -> bool:
        self._last, _, success, _ = self._env.step(np.asarray(action, dtype=np.float64))
        return bool(success)

    def observe(self) -> Observation:
        sim = self._env.sim
        s = self.image_size
        self.make_gl_current()
        images = {
            cam: np.ascontiguousarray(
                sim.render(camera_name=CAMERA_NAMES[cam], width=s, height=s)[::-1]
            )
            for cam in self.cameras
        }
        return {"images": images, "proprio": self.proprio(), "instruction": self.instruction}

    def make_gl_current(self) -> None:
        """Make this env's OpenGL context current. robosuite's ``MjSim.render`` draws in
        whatever context is current — after a second env is built, the *other* env's, whose
        meshes and textures then show up in this env's images — so every render goes
        through here first (cheap)."""
        ctx = getattr(self._env.sim, "_render_context_offscreen", None)
        if ctx is not None:
            ctx.gl_ctx.make_current()

    def proprio(self) -> np.ndarray:
        from robosuite.utils.transform_utils import quat2axisangle

        o = self._last if self._last is not None else self._env.env._get_observations()
        return np.concatenate(
            [o["robot0_eef_pos"], quat2axisangle(o["robot0_eef_quat"]), o["robot0_gripper_qpos"]]
        ).astype(np.float32)

    def success(self) -> bool:
        return bool(self._env.check_success())

    # ------------------------------------------------------------------ state
    def get_state(self) -> np.ndarray:
        return self._env.get_sim_state().copy()

    def set_state(self, state: np.ndarray) -> None:
        self._last = self._env.regenerate_obs_from_state(np.asarray(state, dtype=np.float64))

    @property
    def sim(self):
        """The underlying robosuite ``MjSim`` (privileged access for experts and tests)."""
        return self._env.sim

    def close(self) -> None:
        if getattr(self, "_env", None) is not None:
            # robosuite frees its GL objects in the *current* context: make it ours, or another
            # env's textures and meshes are deleted instead
            self.make_gl_current()
            self._env.close()
            self._env = None

    def __del__(self) -> None:  # an env dropped without close() must not free in another's GL
        try:
            self.close()
        except Exception:  # interpreter shutdown: EGL may already be gone
            pass

    def __repr__(self) -> str:
        return (
            f"LiberoEnv({self.suite}, {self.task!r}, {self.image_size}px, {self.cameras}, "
            f"{self.visual_meshes} meshes)"
        )


def make_libero_env(
    cfg, suite: str, task: int | str, seed: int | None = None, max_steps: int | None = None
) -> LiberoEnv:
    """Build a :class:`LiberoEnv` with the settings of a :class:`ptrim.config.LiberoConfig`
    (``max_steps``: instead of the suite's limit)."""
    suite = libero_setup.canonical_suite(suite)
    return LiberoEnv(
        suite,
        task,
        image_size=cfg.image_size,
        cameras=tuple(cfg.cameras),
        max_steps=max_steps or cfg.max_steps[suite],
        settle_steps=cfg.settle_steps,
        control_hz=cfg.control_hz,
        seed=0 if seed is None else seed,
        visual_meshes=cfg.visual_meshes,
    )
