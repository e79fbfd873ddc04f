"""Privileged views of a LIBERO scene for scripted experts.

Experts may read the simulator directly (policies never do): object poses and extents from the
MuJoCo model, region sites from the BDDL problem, joint states of articulated fixtures. The goal
of a task is read from its BDDL file, so one expert serves every task whose goal predicates it
knows how to achieve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError


@dataclass(frozen=True)
class Box:
    """An axis-aligned bounding box in world coordinates."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def center(self) -> np.ndarray:
        return (self.lo + self.hi) / 2

    @property
    def size(self) -> np.ndarray:
        return self.hi - self.lo

    @property
    def top(self) -> float:
        return float(self.hi[2])

    @property
    def bottom(self) -> float:
        return float(self.lo[2])


@dataclass(frozen=True)
class Footprint:
    """An obstacle seen from above: a convex polygon (counter-clockwise xy vertices) and the
    heights of its top and bottom."""

    poly: np.ndarray
    top: float
    bottom: float

    @classmethod
    def of(cls, corners: np.ndarray) -> Footprint:
        xy = corners[:, :2]
        try:
            hull = ConvexHull(xy)
            poly = xy[hull.vertices]
        except QhullError:  # flat in xy (a vertical plane seen edge-on): keep its extent
            poly = np.array(
                [xy.min(0), [xy.max(0)[0], xy.min(0)[1]], xy.max(0), [xy.min(0)[0], xy.max(0)[1]]]
            )
        return cls(poly, float(corners[:, 2].max()), float(corners[:, 2].min()))

    def gap(self, rect: np.ndarray) -> float:
        """Separation from a convex polygon ``rect`` along the best separating axis (a lower bound
        on the distance; negative when they overlap)."""
        best = -np.inf
        for poly in (rect, self.poly):
            edges = np.roll(poly, -1, axis=0) - poly
            normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
            lengths = np.linalg.norm(normals, axis=1)
            for n in normals[lengths > 1e-9] / lengths[lengths > 1e-9, None]:
                a, b = rect @ n, self.poly @ n
                best = max(best, b.min() - a.max(), a.min() - b.max())
        return float(best)


def parse_goal(bddl_text: str) -> list[tuple[str, ...]]:
    """``(:goal (And (On a b) (Open c)))`` → ``[("on", "a", "b"), ("open", "c")]``."""
    flat = " ".join(bddl_text.split())
    start = flat.lower().index("(:goal")
    depth, end = 0, start
    for end in range(start, len(flat)):
        depth += {"(": 1, ")": -1}.get(flat[end], 0)
        if depth == 0:
            break
    body = flat[start + len("(:goal") : end]
    atoms = re.findall(r"\(\s*([A-Za-z]+)\s+([^()]+?)\s*\)", body)
    return [(pred.lower(), *args.split()) for pred, args in atoms if pred.lower() != "and"]


class Scene:
    """Read-only privileged queries on a :class:`ptrim.envs.libero.LiberoEnv`."""

    def __init__(self, env) -> None:
        self.env = env
        self.domain = env._env.env  # the BDDL robosuite environment
        self.sim = env.sim
        self.model = env.sim.model
        self._geoms_of_body = self._index_geoms()

    # ------------------------------------------------------------ robot
    @property
    def eef_pos(self) -> np.ndarray:
        return np.array(self.sim.data.site_xpos[self.domain.robots[0].eef_site_id])

    @property
    def eef_quat(self) -> np.ndarray:
        """xyzw, as robosuite reports it."""
        return np.array(self.env._last["robot0_eef_quat"])

    @property
    def gripper_qpos(self) -> np.ndarray:
        return np.array(self.env._last["robot0_gripper_qpos"])

    @property
    def gripper_width(self) -> float:
        q = self.gripper_qpos
        return float(q[0] - q[1])

    def robot_base(self) -> np.ndarray:
        return np.array(self.sim.data.body_xpos[self.model.body_name2id("robot0_base")])

    # ------------------------------------------------------------ objects
    def body_pos(self, name: str) -> np.ndarray:
        return np.array(self.sim.data.body_xpos[self.domain.obj_body_id[name]])

    def body_quat(self, name: str) -> np.ndarray:
        """wxyz (MuJoCo order)."""
        return np.array(self.sim.data.body_xquat[self.domain.obj_body_id[name]])

    def box(self, name: str) -> Box:
        """World axis-aligned bounding box of an object's collision geoms."""
        pts = self._corners(self.domain.obj_body_id[name])
        return Box(pts.min(0), pts.max(0))

    def body_geom_corners(self, body: int) -> list[np.ndarray]:
        """Corners ``[8, 3]`` of each collision geom attached to one body (not its children)."""
        return [
            self._geom_corners(g)
            for g in self._geoms_of_body.get(body, [])
            if self.model.geom_contype[g] or self.model.geom_conaffinity[g]
        ]

    def geom_corners(self, name: str) -> list[np.ndarray]:
        """World bounding-box corners ``[8, 3]`` of each collision geom of an object."""
        return [
            self._geom_corners(g)
            for g in self._subtree_geoms(self.domain.obj_body_id[name])
            if self.model.geom_contype[g] or self.model.geom_conaffinity[g]
        ]

    def obstacle_shapes(self, exclude: str = "") -> list[Footprint]:
        """Every collision geom of every obstacle as a footprint polygon with its top height:
        much tighter than one box per object (a bowl in an open drawer is not 'inside' the
        cabinet, and a rotated drawer wall is not a fat axis-aligned box)."""
        return [
            Footprint.of(c) for name in self.obstacles(exclude) for c in self.geom_corners(name)
        ]

    def _geom_corners(self, g: int) -> np.ndarray:
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
        center, half = self.model.geom_aabb[g][:3], self.model.geom_aabb[g][3:]
        rot = self.sim.data.geom_xmat[g].reshape(3, 3)
        return (center + signs * half) @ rot.T + self.sim.data.geom_xpos[g]

    def _corners(self, root: int) -> np.ndarray:
        """World coordinates of the bounding-box corners of every collision geom under ``root``."""
        corners = [
            self._geom_corners(g)
            for g in self._subtree_geoms(root)
            if self.model.geom_contype[g] or self.model.geom_conaffinity[g]  # not visual-only
        ]
        if not corners:
            raise KeyError(f"body {root} has no collision geoms")
        return np.concatenate(corners)

    def frame_extents(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(center in world, half extents along the body axes, body axes as matrix columns):
        the object's oriented bounding box, for grasps aligned with its shape."""
        root = self.domain.obj_body_id[name]
        rot = self.sim.data.body_xmat[root].reshape(3, 3)
        origin = self.sim.data.body_xpos[root]
        pts = self._corners(root) - origin
        local = pts @ rot  # into body coordinates
        lo, hi = local.min(0), local.max(0)
        center = origin + rot @ ((lo + hi) / 2)
        return center, (hi - lo) / 2, rot

    def obstacles(self, exclude: str = "") -> list[str]:
        """Objects and fixtures an arm can bump into (not the table or floor)."""
        names = list(self.domain.objects_dict) + list(self.domain.fixtures_dict)
        return [n for n in names if n != exclude and not any(k in n for k in ("table", "floor"))]

    def table_height(self) -> float:
        """Height of the surface objects stand on (table top or floor)."""
        return min(self.box(n).bottom for n in self.domain.objects_dict)

    def site_pos(self, site: str) -> np.ndarray:
        return np.array(self.sim.data.get_site_xpos(site))

    def joint_qpos(self, joint: str) -> float:
        return float(self.sim.data.get_joint_qpos(joint))

    def object_joints(self, name: str) -> list[str]:
        obj = (
            self.domain.get_object(name)
            if name in self.domain.objects_dict or name in self.domain.fixtures_dict
            else None
        )
        return list(obj.joints) if obj is not None else []

    def goal(self) -> list[tuple[str, ...]]:
        return parse_goal(open(self.domain.bddl_file_name).read())

    def holds(self, predicate: tuple[str, ...]) -> bool:
        """Evaluate one goal atom with LIBERO's own predicate functions."""
        from libero.libero.envs.predicates import eval_predicate_fn

        states = self.domain.object_states_dict
        return bool(eval_predicate_fn(predicate[0], *(states[a] for a in predicate[1:])))

    # ------------------------------------------------------------ internals
    def _index_geoms(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for g in range(self.model.ngeom):
            out.setdefault(int(self.model.geom_bodyid[g]), []).append(g)
        return out

    def _subtree_geoms(self, root: int) -> list[int]:
        parents = self.model.body_parentid
        geoms = []
        for b in range(self.model.nbody):
            a = b
            while a != 0 and a != root:
                a = parents[a]
            if a == root:
                geoms.extend(self._geoms_of_body.get(b, []))
        return geoms
