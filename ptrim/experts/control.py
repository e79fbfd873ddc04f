"""End-effector pose targets → LIBERO OSC_POSE delta actions.

robosuite's OSC_POSE controller reads a 7-D action in [-1, 1]: a position delta scaled to at most
5 cm per control step, a rotation delta (axis-angle, world frame) scaled to at most 0.5 rad, and
the gripper command (-1 open, +1 close). :func:`pose_action` is a proportional controller on the
measured end-effector pose, saturated so the arm moves at a bounded, human-like speed.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

POS_SCALE = 0.05  # metres per step at |action| = 1 (osc_pose.json output_max)
ROT_SCALE = 0.5  # radians per step at |action| = 1

# Gripper pointing straight down, fingers closing along the world y axis: LIBERO's Panda at rest.
DOWN = Rotation.from_matrix(np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]]))


def top_down(yaw: float) -> Rotation:
    """A top-down grasp orientation rotated by ``yaw`` (radians) about the world z axis."""
    return Rotation.from_euler("z", yaw) * DOWN


def pose_action(
    pos: np.ndarray,
    quat_xyzw: np.ndarray,
    target_pos: np.ndarray,
    target_rot: Rotation,
    gripper: float,
    *,
    max_speed: float = 0.6,
    gain: float = 1.0,
) -> np.ndarray:
    """The OSC action that moves the end effector from (``pos``, ``quat``) toward the target.

    ``max_speed`` caps the position command (fraction of 5 cm/step) so long moves are smooth.
    """
    dpos = gain * (np.asarray(target_pos) - np.asarray(pos)) / POS_SCALE
    norm = np.linalg.norm(dpos)
    if norm > max_speed:
        dpos *= max_speed / norm
    err = target_rot * Rotation.from_quat(quat_xyzw).inv()
    drot = np.clip(err.as_rotvec() / ROT_SCALE, -1.0, 1.0)
    return np.concatenate([np.clip(dpos, -1, 1), drot, [gripper]]).astype(np.float32)


def yaw_error(quat_xyzw: np.ndarray, target_rot: Rotation) -> float:
    """Angle (radians) between the current orientation and the target."""
    return float((target_rot * Rotation.from_quat(quat_xyzw).inv()).magnitude())
