"""Privileged-state waypoint experts for LIBERO.

The goal of a task is read from its BDDL file (``(:goal (And (In soup basket_region)))``) and
each goal atom is achieved by one recipe built from :mod:`ptrim.experts.skills`. Object and
fixture poses come from the simulator; actions are OSC deltas, exactly what a policy outputs.
"""

from __future__ import annotations

import numpy as np

from ptrim.experts.skills import (
    CLOSE,
    OPEN,
    Actions,
    Context,
    move_to,
    rotate_to,
    set_gripper,
    wrap_yaw,
)

SAFE_Z = 0.12  # clearance above the tallest thing on the way (metres above the object tops)
FINGER_DEPTH = 0.012  # how far below an object's top the fingertips must reach at least
FINGER_REACH = 0.028  # how far below an object's top the grip site may go before the hand hits it


# ------------------------------------------------------------------ grasp geometry
HAND_HALF_LENGTH = 0.11  # the Panda hand, along the direction the fingers close (metres)
HAND_HALF_WIDTH = 0.04
HAND_ABOVE_TIPS = 0.025  # hand bottom above the grip site
MAX_OPENING = 0.075  # widest object side the fingers can take


def grasp_yaw(ctx: Context, name: str) -> float:
    """Yaw that closes the fingers across a side the gripper can take, turned (up to 45°) so the
    wide Panda hand clears neighbouring objects that stand higher than where the hand will be."""
    _, half, axes = ctx.scene.frame_extents(name)
    up = int(np.argmax(np.abs(axes[2])))  # the body axis closest to vertical
    a, b = [i for i in range(3) if i != up]
    round_ = abs(half[a] - half[b]) < 0.004
    candidates = []
    for i in (a, b):
        if 2 * half[i] > MAX_OPENING and not round_:
            continue
        d = axes[:, i]
        base = float(np.arctan2(d[0], -d[1]))
        tilt = np.deg2rad(45) if round_ else _max_tilt(half[i])
        for off in np.linspace(-tilt, tilt, 13):
            candidates.append((wrap_yaw(base + off), abs(off)))
    if not candidates:  # nothing fits: take the narrowest side anyway
        i = min((a, b), key=lambda k: half[k])
        candidates = [(wrap_yaw(float(np.arctan2(axes[0, i], -axes[1, i]))), 0.0)]
    hand_z = grasp_point(ctx, name)[2] + HAND_ABOVE_TIPS
    scored = [(min(_clearance(ctx, name, y, hand_z), 0.02), -dev - 0.2 * abs(wrap_yaw(y - ctx.yaw)), y)
              for y, dev in candidates]
    return max(scored)[2]


def _max_tilt(half_width: float) -> float:
    """How far the fingers may turn off the narrow axis and still span the side (cos law)."""
    return float(np.arccos(min(1.0, 2 * half_width / MAX_OPENING))) * 0.8


def _clearance(ctx: Context, name: str, yaw: float, hand_z: float) -> float:
    """Smallest horizontal gap between the hand's footprint at ``yaw`` and any other object
    whose top is above ``hand_z`` (negative: overlap)."""
    center = grasp_point(ctx, name)[:2]
    along = np.array([np.sin(yaw), -np.cos(yaw)])  # finger-closing direction
    across = np.array([np.cos(yaw), np.sin(yaw)])
    gap = np.inf
    for other in ctx.scene.obstacles(exclude=name):
        box = ctx.scene.box(other)
        if box.top < hand_z:
            continue
        corners = np.array([[x, y] for x in (box.lo[0], box.hi[0]) for y in (box.lo[1], box.hi[1])])
        rel = corners - center
        u, v = rel @ along, rel @ across  # obstacle corners in the hand frame
        du = max(u.min() - HAND_HALF_LENGTH, -HAND_HALF_LENGTH - u.max(), 0.0)
        dv = max(v.min() - HAND_HALF_WIDTH, -HAND_HALF_WIDTH - v.max(), 0.0)
        inside = du == 0 and dv == 0
        gap = min(gap, -0.01 if inside else float(np.hypot(du, dv)))
    return gap


def grasp_point(ctx: Context, name: str) -> np.ndarray:
    """Where the grip site goes: the object's centre, but high enough that the hand (3.5 cm
    above the fingertips) stays above the object's top, and low enough to hold it."""
    box = ctx.scene.box(name)
    center, _, _ = ctx.scene.frame_extents(name)
    height = box.top - box.bottom
    z = box.bottom + max(min(0.5 * height, height - FINGER_DEPTH), 0.006)
    z = max(z, box.top - FINGER_REACH)
    return np.array([center[0], center[1], z])


# ------------------------------------------------------------------ recipes
def pick(ctx: Context, name: str) -> Actions:
    """Approach from above, align, descend, close until the fingers stop, lift."""
    box = ctx.scene.box(name)
    yield from set_gripper(ctx, OPEN) if ctx.scene.gripper_width < 0.07 else iter(())
    above = lambda: grasp_point(ctx, name) + [0, 0, max(0.08, box.top - grasp_point(ctx, name)[2] + 0.04)]  # noqa: E731
    yield from move_to(ctx, above, tol=0.015)
    yield from rotate_to(ctx, grasp_yaw(ctx, name))
    yield from move_to(ctx, above, tol=0.01)
    yield from move_to(ctx, lambda: grasp_point(ctx, name), tol=0.006, speed=0.4)
    yield from set_gripper(ctx, CLOSE)
    lift = ctx.scene.eef_pos + [0, 0, 0.1]
    yield from move_to(ctx, lift, tol=0.02)


def place_in(ctx: Context, name: str, drop_xy: np.ndarray, floor_z: float, rim_z: float) -> Actions:
    """Carry the held object over ``drop_xy`` above the rim, lower it inside, release."""
    held = ctx.scene.box(name)
    hang = ctx.scene.eef_pos[2] - held.bottom  # gripper height above the object's bottom
    travel_z = max(rim_z + hang + 0.04, ctx.scene.eef_pos[2])
    yield from move_to(ctx, np.r_[ctx.scene.eef_pos[:2], travel_z], tol=0.02)
    yield from move_to(ctx, np.r_[drop_xy, travel_z], tol=0.015)
    # as low as the object can go without the hand (above the grip site) touching the rim
    release_z = max(floor_z + hang + 0.03, rim_z - HAND_ABOVE_TIPS + 0.015)
    yield from move_to(ctx, np.r_[drop_xy, release_z], tol=0.01, speed=0.4)
    yield from set_gripper(ctx, OPEN)
    yield from move_to(ctx, ctx.scene.eef_pos + [0, 0, 0.08], tol=0.02)


def put_in_container(ctx: Context, obj: str, region: str) -> Actions:
    container = region.rsplit("_", 2)[0] if region.endswith("_region") else region
    container = _owner(ctx, region)
    box = ctx.scene.box(container)
    site = ctx.scene.site_pos(region)
    yield from pick(ctx, obj)
    yield from place_in(ctx, obj, site[:2], floor_z=box.bottom + 0.01, rim_z=box.top)


def _owner(ctx: Context, site: str) -> str:
    """The object or fixture a region site belongs to (``basket_1_contain_region`` → ``basket_1``)."""
    names = list(ctx.scene.domain.objects_dict) + list(ctx.scene.domain.fixtures_dict)
    owners = [n for n in names if site.startswith(n + "_")]
    if not owners:
        raise KeyError(f"no object owns region {site!r}")
    return max(owners, key=len)


RECIPES = {"in": put_in_container}


def expert(ctx: Context) -> Actions:
    """The whole task: every goal atom in order."""
    for atom in ctx.scene.goal():
        if atom[0] not in RECIPES:
            raise NotImplementedError(f"no expert recipe for goal {atom}")
        yield from RECIPES[atom[0]](ctx, *atom[1:])
