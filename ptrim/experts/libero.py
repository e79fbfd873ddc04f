"""Privileged-state waypoint experts for LIBERO.

The goal of a task is read from its BDDL file (``(:goal (And (In soup basket_region)))``) and
each goal atom is achieved by one recipe built from :mod:`ptrim.experts.skills`. Object and
fixture poses come from the simulator; actions are OSC deltas, exactly what a policy outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ptrim.experts.control import top_down
from ptrim.experts.scene import Footprint
from ptrim.experts.skills import (
    CAREFUL,
    CLOSE,
    FAST,
    FORCEFUL,
    OPEN,
    Actions,
    Context,
    move_to,
    rotate_to,
    set_gripper,
    wrap_yaw,
)

FINGER_DEPTH = 0.012  # how far below an object's top the fingertips must reach at least
FINGER_REACH = 0.028  # how far below an object's top the grip site may go before the hand hits it


# ------------------------------------------------------------------ grasp geometry
HAND_HALF_LENGTH = 0.11  # the Panda hand, along the direction the fingers close (metres)
HAND_HALF_WIDTH = 0.04
HAND_ABOVE_TIPS = 0.025  # hand bottom above the grip site
MAX_OPENING = 0.075  # widest object side the fingers can take
FINGER_OFFSET = 0.045  # open finger centre from the grip site, along the closing axis
FINGER_HALF, FINGER_HALF_WIDTH = 0.008, 0.012
FINGERTIP_BELOW = 0.013  # fingertips below the grip site
COMFORT_REACH = 0.62  # horizontal distance from the arm's base beyond which reach gets hard
RIM_DEPTHS = (0.015, 0.011, 0.007)  # grip site below the rim of a bowl held by its wall


@dataclass(frozen=True)
class Grasp:
    """Where to hold an object: the grip-site position relative to the object's origin (world
    axes, fixed at planning time) and the gripper yaw."""

    obj: str
    offset: np.ndarray
    yaw: float
    rest_offset: np.ndarray  # object origin minus its bottom centre (xy), resting upright

    def point(self, ctx: Context) -> np.ndarray:
        """The grip-site target now (it follows the object if the object moves)."""
        return ctx.scene.body_pos(self.obj) + self.offset


def plan_grasp(ctx: Context, name: str, place_xy: np.ndarray | None = None) -> Grasp:
    """The best grasp of ``name``: across a side the fingers can span (small objects) or on the
    wall of a wide one (bowls), turned so the long Panda hand clears neighbouring objects, and
    held on the side that keeps the arm within reach where the object will be put down."""
    candidates = _side_grasps(ctx, name) or _rim_grasps(ctx, name)
    origin = ctx.scene.body_pos(name)
    obstacles = ctx.scene.obstacle_shapes(exclude=name)
    base = ctx.scene.robot_base()[:2]

    def score(c):
        point, yaw, deviation = c
        clear = min(_clearance(obstacles, point, yaw), 0.02)
        ends = [point[:2]] + ([place_xy + point[:2] - origin[:2]] if place_xy is not None else [])
        overreach = max(max(np.linalg.norm(e - base) for e in ends) - COMFORT_REACH, 0.0)
        return clear, -deviation - 0.2 * abs(wrap_yaw(yaw - ctx.yaw)) - 10 * overreach

    point, yaw, _ = max(candidates, key=score)
    return Grasp(name, point - origin, yaw, origin[:2] - _bottom_center(ctx.scene, name))


def _side_grasps(ctx: Context, name: str) -> list[tuple[np.ndarray, float, float]]:
    center, half, axes = ctx.scene.frame_extents(name)
    box = ctx.scene.box(name)
    up = int(np.argmax(np.abs(axes[2])))  # the body axis closest to vertical
    a, b = [i for i in range(3) if i != up]
    round_ = abs(half[a] - half[b]) < 0.004
    height = box.top - box.bottom
    z = box.bottom + max(min(0.5 * height, height - FINGER_DEPTH), 0.006)
    point = np.array([center[0], center[1], max(z, box.top - FINGER_REACH)])
    out = []
    for i in (a, b):
        if 2 * half[i] > MAX_OPENING:
            continue
        base = float(np.arctan2(axes[0, i], -axes[1, i]))
        tilt = np.deg2rad(45) if round_ else _max_tilt(half[i])
        out += [(point, wrap_yaw(base + off), abs(off)) for off in np.linspace(-tilt, tilt, 13)]
    return out


def _rim_grasps(ctx: Context, name: str) -> list[tuple[np.ndarray, float, float]]:
    """Grasps on the wall of a wide open object (a bowl), one per wall segment, at the
    segment's own rim height: right even when the bowl sits tilted on something."""
    center, _, _ = ctx.scene.frame_extents(name)
    box = ctx.scene.box(name)
    out = []
    for corners in ctx.scene.geom_corners(name):
        top = float(corners[:, 2].max())
        mid = corners[:, :2].mean(0)
        radial = mid - center[:2]
        if top < box.top - 0.03 or np.linalg.norm(radial) < 0.02:
            continue  # the bottom or the inside, not the rim
        u = radial / np.linalg.norm(radial)
        angle = float(np.arctan2(u[1], u[0]))
        yaw = wrap_yaw(float(np.arctan2(u[0], -u[1])))  # fingers close along u, across the wall
        toward_robot = abs(wrap_yaw(angle - np.pi)) / np.pi  # prefer the near side
        for depth in RIM_DEPTHS:  # shallower holds let the hand pass above drawer walls
            point = np.r_[mid, top - depth]
            out.append((point, yaw, 0.3 * toward_robot + 10 * (RIM_DEPTHS[0] - depth)))
    return out


def _max_tilt(half_width: float) -> float:
    """How far the fingers may turn off the narrow axis and still span the side."""
    return float(np.arccos(min(1.0, 2 * half_width / MAX_OPENING))) * 0.8


def _clearance(obstacles: list[Footprint], point: np.ndarray, yaw: float) -> float:
    """Smallest horizontal gap between the gripper and any obstacle it would reach down to:
    the hand's footprint (above ``point`` by HAND_ABOVE_TIPS) against obstacles taller than the
    hand, and each open finger against obstacles taller than the fingertips. Negative when
    something overlaps."""
    along = np.array([np.sin(yaw), -np.cos(yaw)])  # finger-closing direction
    across = np.array([np.cos(yaw), np.sin(yaw)])
    parts = [  # (rectangle in world xy, lowest z it reaches)
        (
            _rect(point[:2], along, across, HAND_HALF_LENGTH, HAND_HALF_WIDTH),
            point[2] + HAND_ABOVE_TIPS,
        ),
        (
            _rect(point[:2] + FINGER_OFFSET * along, along, across, FINGER_HALF, FINGER_HALF_WIDTH),
            point[2] - FINGERTIP_BELOW,
        ),
        (
            _rect(point[:2] - FINGER_OFFSET * along, along, across, FINGER_HALF, FINGER_HALF_WIDTH),
            point[2] - FINGERTIP_BELOW,
        ),
    ]
    gaps = [ob.gap(rect) for ob in obstacles for rect, bottom in parts if ob.top >= bottom]
    return min(gaps, default=np.inf)


def _rect(c: np.ndarray, u: np.ndarray, v: np.ndarray, hu: float, hv: float) -> np.ndarray:
    """Counter-clockwise corners of a rectangle centred at ``c`` with half sizes along u, v."""
    return np.array(
        [c - hu * u - hv * v, c + hu * u - hv * v, c + hu * u + hv * v, c - hu * u + hv * v]
    )


# ------------------------------------------------------------------ recipes
def pick(ctx: Context, obj: str, place_xy: np.ndarray | None = None, tries: int = 3):
    """Grasp ``obj`` and lift it; a grasp that comes up empty (fingers closed on nothing, or
    the object left behind) is visible, so the expert opens and tries again, re-planned.
    Returns the :class:`Grasp` that holds (``grasp = yield from pick(...)``)."""
    for _ in range(tries):
        grasp = plan_grasp(ctx, obj, place_xy=place_xy)
        resting = ctx.scene.box(obj).bottom
        yield from _grasp_and_lift(ctx, grasp)
        if ctx.scene.gripper_width > 0.002 and ctx.scene.box(obj).bottom > resting + 0.03:
            return grasp
        yield from set_gripper(ctx, OPEN)
        yield from move_to(ctx, ctx.scene.eef_pos + [0, 0, 0.05], tol=0.02)
    return grasp


def _grasp_and_lift(ctx: Context, grasp: Grasp) -> Actions:
    """Approach from above, align, descend, close until the fingers stop, lift."""
    box = ctx.scene.box(grasp.obj)
    if ctx.scene.gripper_width < 0.07:
        yield from set_gripper(ctx, OPEN)
    clearance = max(0.08, box.top - grasp.point(ctx)[2] + 0.05)
    above = lambda: grasp.point(ctx) + [0, 0, clearance]  # noqa: E731
    travel_z = max(ctx.scene.eef_pos[2], above()[2])  # up first, across, then straight down
    if ctx.scene.eef_pos[2] < travel_z - 0.02:
        yield from move_to(ctx, np.r_[ctx.scene.eef_pos[:2], travel_z], tol=0.02)
    yield from move_to(ctx, lambda: np.r_[above()[:2], travel_z], tol=0.015)
    yield from rotate_to(ctx, grasp.yaw)
    yield from move_to(ctx, above, tol=0.01)
    if ctx.redundancy is not None:
        yield from ctx.redundancy.before_grasp(
            ctx,
            lambda: grasp.point(ctx),
            move=lambda f: move_to(ctx, f, tol=0.006, speed=CAREFUL, inject=False),
            grip=lambda closed: set_gripper(ctx, CLOSE if closed else OPEN),
        )
    yield from move_to(ctx, lambda: grasp.point(ctx), tol=0.006, speed=CAREFUL)
    yield from set_gripper(ctx, CLOSE)
    yield from lift_clear(ctx, grasp.obj)


def lift_clear(ctx: Context, name: str, height: float = 0.1) -> Actions:
    """Lift a held object; if something overhangs it (an open drawer above a bowl), first slide
    it out from under, by the shortest of eight horizontal moves that clears."""
    sc = ctx.scene
    box = sc.box(name)
    rect = np.array([box.lo[:2], [box.hi[0], box.lo[1]], box.hi[:2], [box.lo[0], box.hi[1]]])
    above = [
        f
        for f in sc.obstacle_shapes(exclude=name)
        if f.bottom > box.top - 0.005 and f.bottom < box.top + height + 0.05
    ]
    if any(f.gap(rect) < 0.01 for f in above):
        best = None
        for angle in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            u = np.array([np.cos(angle), np.sin(angle)])
            for dist in np.arange(0.02, 0.16, 0.01):
                if all(f.gap(rect + dist * u) >= 0.01 for f in above):
                    if best is None or dist < best[0]:
                        best = (dist, u)
                    break
        if best is not None:
            yield from move_to(ctx, sc.eef_pos + [0, 0, 0.01], tol=0.006, speed=FORCEFUL)
            yield from move_to(
                ctx, sc.eef_pos + np.r_[best[0] * best[1], 0.0], tol=0.008, speed=CAREFUL
            )
    yield from move_to(ctx, sc.eef_pos + [0, 0, height], tol=0.02, speed=CAREFUL)


def carry_over(ctx: Context, grasp: Grasp, xy: np.ndarray, clear_z: float) -> Actions:
    """Carry the held object so that its origin is above ``xy`` with its bottom above
    ``clear_z``."""
    sc = ctx.scene
    hang = sc.eef_pos[2] - sc.box(grasp.obj).bottom
    travel_z = max(clear_z + hang + 0.03, sc.eef_pos[2])
    yield from move_to(ctx, np.r_[sc.eef_pos[:2], travel_z], tol=0.02)
    # Aim the point the object will land on, not its origin: a bowl held by the rim hangs
    # tilted, and its origin moves when it settles flat; its lowest point does not.
    land = xy - grasp.rest_offset
    held = lambda: sc.eef_pos[:2] - _bottom_center(sc, grasp.obj)  # noqa: E731
    dropped = lambda: np.linalg.norm(held()) > 0.15  # noqa: E731  (not in the hand any more)
    yield from move_to(ctx, lambda: np.r_[land + held(), travel_z], tol=0.015, until=dropped)
    yield from move_to(
        ctx, lambda: np.r_[land + held(), travel_z], tol=0.006, speed=CAREFUL, until=dropped
    )


def _bottom_center(sc, name: str) -> np.ndarray:
    """Centre (xy) of the lowest part of an object: where it touches a surface first."""
    pts = np.concatenate(sc.geom_corners(name))
    low = pts[pts[:, 2] < pts[:, 2].min() + 0.01]
    return low[:, :2].mean(0)


def release(ctx: Context, z: float) -> Actions:
    """Lower the grip site to ``z`` (stopping early if the object comes to rest), open, retreat."""
    yield from move_to(ctx, np.r_[ctx.scene.eef_pos[:2], z], tol=0.008, speed=CAREFUL)
    yield from set_gripper(ctx, OPEN)
    yield from move_to(ctx, ctx.scene.eef_pos + [0, 0, 0.08], tol=0.02)


def _put_in_container(ctx: Context, obj: str, region: str) -> Actions:
    """Drop the object inside the container region, low but with the hand clear of the rim."""
    container = _owner(ctx, region)
    xy = ctx.scene.site_pos(region)[:2]
    grasp = yield from pick(ctx, obj, place_xy=xy)
    box = ctx.scene.box(container)
    yield from carry_over(ctx, grasp, xy, box.top)
    hang = ctx.scene.eef_pos[2] - ctx.scene.box(obj).bottom
    yield from release(ctx, max(box.bottom + 0.04 + hang, box.top - HAND_ABOVE_TIPS + 0.015))


def put_on(ctx: Context, obj: str, target: str) -> Actions:
    """``(On obj target)``: set the object down centred on a target object or region; a flat
    object (a plate) going to a region of the table it lies on is pushed there instead."""
    if _slides_to(ctx, obj, target):
        yield from push_to(ctx, obj, ctx.scene.site_pos(target)[:2])
        return
    if target in ctx.scene.domain.object_sites_dict:
        xy, support = _region_target(ctx, target, exclude=obj)
    else:
        xy = ctx.scene.body_pos(target)[:2]
        support = _support_top(ctx, xy, exclude=obj)
    grasp = yield from pick(ctx, obj, place_xy=xy)
    yield from carry_over(ctx, grasp, xy, support)
    hang = ctx.scene.eef_pos[2] - ctx.scene.box(obj).bottom
    yield from release(ctx, support + hang + 0.01)


def _slides_to(ctx: Context, obj: str, target: str) -> bool:
    """Whether ``obj`` is flat and wide (lower than 4 cm, at least 12 cm across: a plate, which
    a fingertip grasp on its rim cannot lift level) and ``target`` is a region of the surface
    it rests on."""
    sc = ctx.scene
    if target not in sc.domain.object_sites_dict:
        return False
    box = sc.box(obj)
    flat = box.size[2] < 0.04 and min(box.size[:2]) > 0.12
    return flat and abs(sc.site_pos(target)[2] - box.bottom) < 0.02


def push_to(ctx: Context, obj: str, xy: np.ndarray, tries: int = 3) -> Actions:
    """Slide a flat dish ``obj`` over its support until its origin is within 1.5 cm of
    ``xy``: the closed fingers come down inside it, onto its floor (the space behind a
    plate is often taken: a cabinet), the long hand turned across the way to go, and move
    toward the goal a few cm at a time, so they catch the far rim from inside and drag the dish
    along, re-aimed every step at where it now is. Fingers that slip out over the rim (visible:
    the dish stays behind) come up and go down inside it again."""
    sc = ctx.scene
    xy = np.asarray(xy, dtype=float)
    here = lambda: sc.body_pos(obj)[:2]  # noqa: E731
    arrived = lambda: np.linalg.norm(xy - here()) < 0.015  # noqa: E731
    box = sc.box(obj)
    outside = 0.5 * float(max(box.size[:2])) + 0.01  # fingers past the rim
    lost = lambda: np.linalg.norm(sc.eef_pos[:2] - here()) > outside  # noqa: E731
    z = box.bottom + 0.002  # fingertips on the floor of the dish: no riding over the rim

    def ahead() -> np.ndarray:  # a few cm at a time, so holding the height keeps its weight
        step = xy - here()
        return np.r_[sc.eef_pos[:2] + step * min(1.0, 0.03 / np.linalg.norm(step)), z]

    yield from set_gripper(ctx, CLOSE)
    for _ in range(tries):
        if arrived():
            break
        d = (xy - here()) / np.linalg.norm(xy - here())
        clear_z = max(sc.eef_pos[2], sc.box(obj).top + 0.06)
        yield from move_to(ctx, np.r_[sc.eef_pos[:2], clear_z], tol=0.02)
        yield from rotate_to(ctx, wrap_yaw(float(np.arctan2(-d[1], -d[0]))))  # hand across d
        above = lambda d=d, h=clear_z: np.r_[here() - 0.02 * d, h]  # noqa: E731
        yield from move_to(ctx, above, tol=0.015)
        on_floor = lambda d=d: np.r_[here() - 0.02 * d, z]  # noqa: E731
        yield from move_to(ctx, on_floor, tol=0.004, speed=CAREFUL)
        yield from move_to(
            ctx,
            ahead,
            tol=0.005,
            speed=FAST,
            max_steps=150,
            until=lambda: arrived() or lost(),
            inject=False,  # no detour while dragging
        )
    yield from move_to(ctx, sc.eef_pos + [0, 0, 0.06], tol=0.02)


def _region_target(ctx: Context, region: str, exclude: str) -> tuple[np.ndarray, float]:
    """Where to set an object down in a region: its centre on a level surface; on a tilted one
    (a wine rack's shelf) 3 cm toward the side the surface faces, so the object leans into it."""
    pos = ctx.scene.site_pos(region)
    normal = ctx.scene.sim.data.get_site_xmat(region)[2]  # LIBERO's 'under' test uses rows
    tilt = normal[:2]
    if np.linalg.norm(tilt) > 0.3:
        return pos[:2] + 0.03 * tilt / np.linalg.norm(tilt), float(pos[2])
    return pos[:2], _support_top(ctx, pos[:2], exclude=exclude)


def _support_top(ctx: Context, xy: np.ndarray, exclude: str) -> float:
    """Height of the highest object or fixture surface under ``xy``."""
    tops = [
        ctx.scene.box(n).top
        for n in ctx.scene.obstacles(exclude=exclude)
        if np.all(ctx.scene.box(n).lo[:2] <= xy) and np.all(xy <= ctx.scene.box(n).hi[:2])
    ]
    return max(tops, default=ctx.scene.table_height())


def _owner(ctx: Context, site: str) -> str:
    """The object or fixture owning a region site (``basket_1_contain_region`` → ``basket_1``)."""
    names = list(ctx.scene.domain.objects_dict) + list(ctx.scene.domain.fixtures_dict)
    owners = [n for n in names if site.startswith(n + "_")]
    if not owners:
        raise KeyError(f"no object owns region {site!r}")
    return max(owners, key=len)


# ------------------------------------------------------------------ articulated fixtures
@dataclass(frozen=True)
class Drawer:
    """A sliding drawer: its joint, the unit direction it opens along, and its handle."""

    joint: str
    out: np.ndarray  # unit vector, world: the direction the drawer moves when opening
    handle: np.ndarray  # handle centre, world (at planning time)
    opens_negative: bool  # LIBERO opens these drawers toward negative joint values


def find_drawer(ctx: Context, region: str) -> Drawer:
    sc = ctx.scene
    joint = sc.domain.object_sites_dict[region].joints[0]
    fixture = sc.domain.get_object(_owner(ctx, region))
    art = fixture.object_properties["articulation"]
    opens_negative = max(art["default_open_ranges"]) < min(art["default_close_ranges"])
    jid = sc.model.joint_name2id(joint)
    body = int(sc.model.jnt_bodyid[jid])
    axis = sc.sim.data.body_xmat[body].reshape(3, 3) @ sc.model.jnt_axis[jid]
    out = -axis if opens_negative else axis
    centers = [c.mean(0) for c in sc.body_geom_corners(body)]
    handle = max(centers, key=lambda c: float(c @ out))  # the part that sticks out furthest
    return Drawer(joint, out / np.linalg.norm(out), handle, opens_negative)


def facing(direction: np.ndarray) -> Rotation:
    """Gripper pointing horizontally along ``direction``, fingers closing vertically."""
    z = direction / np.linalg.norm(direction)
    y = np.array([0.0, 0.0, 1.0])
    return Rotation.from_matrix(np.stack([np.cross(y, z), y, z], axis=1))


def open_drawer(ctx: Context, region: str, travel: float | None = None) -> Actions:
    """``(Open drawer_region)``: grasp the handle from the front, fingers closing vertically,
    and pull until the drawer counts as open (or has moved ``travel`` metres)."""
    sc = ctx.scene
    d = find_drawer(ctx, region)
    owner = sc.domain.get_object(_owner(ctx, region))
    art = owner.object_properties["articulation"]
    start_q = sc.joint_qpos(d.joint)
    if travel is None:
        done = lambda: owner.is_open(sc.joint_qpos(d.joint))  # noqa: E731
        travel = abs(max(art["default_open_ranges"], key=abs))
    else:
        done = lambda: abs(sc.joint_qpos(d.joint) - start_q) >= travel  # noqa: E731
    if done():
        return
    yield from move_to(ctx, np.r_[sc.eef_pos[:2], max(sc.eef_pos[2], d.handle[2] + 0.08)], tol=0.02)
    ctx.rot = facing(-d.out)  # the wrist turns on the way to the handle
    yield from move_to(ctx, d.handle + 0.14 * d.out + [0, 0, 0.04], tol=0.02)
    yield from move_to(ctx, d.handle + 0.10 * d.out, tol=0.01)
    yield from move_to(ctx, d.handle + 0.005 * d.out, tol=0.006, speed=FORCEFUL)
    yield from set_gripper(ctx, CLOSE)
    start = sc.eef_pos.copy()
    for _ in range(3):  # pull; a slipped handle gets a second try from where the drawer is
        yield from move_to(
            ctx, lambda: start + (travel + 0.02) * d.out, tol=0.01, speed=FORCEFUL, until=done
        )
        if done():
            break
    yield from set_gripper(ctx, OPEN)
    yield from move_to(ctx, sc.eef_pos + 0.07 * d.out + [0, 0, 0.03], tol=0.02)
    ctx.rot = top_down(0.0)  # back to a top-down wrist, turning during the next move
    yield from move_to(ctx, sc.eef_pos + [0, 0, 0.06], tol=0.03)


def close_drawer(ctx: Context, region: str) -> Actions:
    """``(Close drawer_region)``: push the drawer front back in with the closed fingers."""
    sc = ctx.scene
    d = find_drawer(ctx, region)
    owner = sc.domain.get_object(_owner(ctx, region))
    is_closed = lambda: owner.is_close(sc.joint_qpos(d.joint))  # noqa: E731
    if is_closed():
        return
    yield from set_gripper(ctx, CLOSE)
    front = find_drawer(ctx, region).handle
    start = front + 0.06 * d.out + [0, 0, 0.0]
    yield from move_to(ctx, np.r_[sc.eef_pos[:2], max(sc.eef_pos[2], front[2] + 0.1)], tol=0.02)
    yield from move_to(ctx, start + [0, 0, 0.1], tol=0.015)
    yield from move_to(ctx, start, tol=0.01)
    depth = abs(sc.joint_qpos(d.joint)) + 0.05
    yield from move_to(ctx, start - depth * d.out, tol=0.01, speed=FORCEFUL, until=is_closed)
    yield from move_to(ctx, sc.eef_pos + 0.06 * d.out + [0, 0, 0.06], tol=0.02)


def turn_on(ctx: Context, fixture: str) -> Actions:
    """``(Turnon stove)``: grasp the knob from above and twist it past its 'on' angle."""
    sc = ctx.scene
    obj = sc.domain.get_object(fixture)
    joint = obj.joints[0]
    if obj.turn_on(sc.joint_qpos(joint)):
        return
    jid = sc.model.joint_name2id(joint)
    body = int(sc.model.jnt_bodyid[jid])
    corners = np.concatenate(sc.body_geom_corners(body))
    top = float(corners[:, 2].max())
    knob = np.r_[sc.sim.data.body_xpos[body][:2], top - 0.012]
    lo, hi = corners[:, :2].min(0), corners[:, :2].max(0)
    yaw = 0.0 if (hi - lo)[0] > (hi - lo)[1] else np.pi / 2  # fingers across the lever
    on_angle = min(obj.object_properties["articulation"]["default_turnon_ranges"])
    yield from move_to(ctx, knob + [0, 0, 0.08], tol=0.015)
    yield from rotate_to(ctx, yaw)
    yield from move_to(ctx, knob, tol=0.006, speed=CAREFUL)
    yield from set_gripper(ctx, CLOSE)
    is_on = lambda: obj.turn_on(sc.joint_qpos(joint))  # noqa: E731
    yield from rotate_to(ctx, wrap_yaw(yaw + on_angle + 0.35), hold=knob, until=is_on)
    yield from set_gripper(ctx, OPEN)
    yield from move_to(ctx, sc.eef_pos + [0, 0, 0.08], tol=0.02)


def put_in(ctx: Context, obj: str, region: str) -> Actions:
    """``(In obj region)``: into a container (basket, caddy) or into a drawer, opening the
    drawer first when it is closed."""
    if sc_is_drawer(ctx, region):  # open it just enough for the object to go in from above
        width = float(np.max(ctx.scene.box(obj).size[:2]))
        yield from open_drawer(ctx, region, travel=width + 0.015)
    yield from _put_in_container(ctx, obj, region)


def sc_is_drawer(ctx: Context, region: str) -> bool:
    site = ctx.scene.domain.object_sites_dict.get(region)
    return bool(site is not None and getattr(site, "joints", None))


RECIPES = {
    "in": put_in,
    "on": put_on,
    "open": open_drawer,
    "close": close_drawer,
    "turnon": turn_on,
}


def unsupported(scene) -> str | None:
    """Why the expert cannot attempt this task (None if it can): a goal predicate with no recipe,
    or an articulated target that is not a sliding drawer (the microwave's hinged door)."""
    for atom in scene.goal():
        if atom[0] not in RECIPES:
            return f"no recipe for {atom}"
        if atom[0] in ("open", "close"):
            site = scene.domain.object_sites_dict.get(atom[1])
            if site is None or not getattr(site, "joints", None):
                return f"{atom}: only sliding drawers can be opened or closed"
    return None


def expert(ctx: Context) -> Actions:
    """The whole task: every goal atom in order, closing things last (a bowl goes into the
    drawer before the drawer is shut)."""
    for atom in sorted(ctx.scene.goal(), key=lambda a: a[0] == "close"):
        if atom[0] not in RECIPES:
            raise NotImplementedError(f"no expert recipe for goal {atom}")
        for _ in range(2):  # a visibly unfinished step (the bowl fell off) is done again
            yield from RECIPES[atom[0]](ctx, *atom[1:])
            if ctx.scene.holds(atom):
                break
