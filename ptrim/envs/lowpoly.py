"""Low-poly *visual* meshes: the same scene, cheaper to render, identical physics.

LIBERO scenes carry 300–400k visual triangles (scanned objects, the Panda's CAD meshes), and
software rendering (Mesa llvmpipe) pays for every one of them. This module decimates the meshes
that only show up in images and leaves every mesh a colliding geom uses untouched.

* :func:`decimate_file` — one mesh file (MuJoCo legacy binary ``.msh``, ``.stl``, ``.obj``) →
  a decimated copy in a content-addressed cache (:func:`cache_dir`), or the file itself when it
  is small (at most ``min_faces`` faces) or cannot be decimated safely.
* :func:`lowpoly_xml` — an MJCF string → the same string with the ``file`` of every visual-only
  mesh pointing at its decimated copy.
* :func:`lowpoly_models` — a context manager that applies :func:`lowpoly_xml` to every model
  robosuite compiles while it is active (how :class:`ptrim.envs.libero.LiberoEnv` uses it).

How the decimation keeps textures intact. Every kept vertex keeps its exact position
(quadric edge collapse with ``optimalplacement=False``: a collapse moves a vertex onto the
other end of the edge), so texture coordinates and normals can be carried over from the
original file instead of being interpolated. The ``.msh`` files are triangle soups (three
private vertices per face); they are first welded on exact (position, texture coordinate)
equality, so a UV seam — where one position carries two texture coordinates — becomes an open
boundary, and ``preserveboundary=True`` pins boundary vertices: no triangle ever spans two UV
charts. Mesh cleaning after the collapse (``autoclean``) is off, because it would merge the two
vertices of a seam and give one chart the other's coordinates (the scrambled-texture failure).
Normals are recomputed per corner from the original faces at the same vertex, hard edges kept
(:func:`_corner_normals`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

log = logging.getLogger(__name__)
CACHE_ENV = "PTRIM_LOWPOLY_CACHE"
FORMAT_VERSION = 1  # bump whenever the output for given inputs may change: old entries are ignored
RATIO = 0.1  # decimated meshes keep this share of their faces ...
MIN_FACES = 2000  # ... but never fewer than this; meshes this small are used as they are
_SMOOTH_DEG = 40.0  # input normals closer than this at a vertex are blended (no hard edge)
_STEP = 0.7  # each decimation step keeps this share of the faces ...
_MAX_FLIPPED = 1e-3  # ... and the result is kept while at most this share of area is folded


def cache_dir() -> Path:
    """``$PTRIM_LOWPOLY_CACHE`` or ``<sys.prefix>/share/ptrim/lowpoly``."""
    return Path(os.environ.get(CACHE_ENV) or Path(sys.prefix) / "share" / "ptrim" / "lowpoly")


def target_faces(nfaces: int, ratio: float = RATIO, min_faces: int = MIN_FACES) -> int | None:
    """Faces a mesh of ``nfaces`` is reduced to, or ``None`` when it is kept as it is."""
    if nfaces <= min_faces:
        return None
    return max(int(min_faces), int(ratio * nfaces))


# ------------------------------------------------------------------------ file formats
class Msh(NamedTuple):
    """MuJoCo's legacy binary mesh: per-vertex normals and texture coordinates (optional)."""

    vertices: np.ndarray  # (nv, 3) float32
    normals: np.ndarray  # (nv, 3) or (0, 3) float32
    texcoords: np.ndarray  # (nv, 2) or (0, 2) float32
    faces: np.ndarray  # (nf, 3) int32


def read_msh(path: str | Path) -> Msh:
    """Header of 4 int32 (nvertex, nnormal, ntexcoord, nface), then float32 vertices, normals,
    texcoords and int32 faces."""
    raw = Path(path).read_bytes()
    if len(raw) < 16:
        raise ValueError(f"{path}: not a MuJoCo .msh file (too short)")
    nv, nn, nt, nf = (int(x) for x in np.frombuffer(raw, np.int32, 4))
    sizes = (3 * nv, 3 * nn, 2 * nt, 3 * nf)
    if min(sizes) < 0 or 16 + 4 * sum(sizes) != len(raw):
        raise ValueError(f"{path}: not a MuJoCo .msh file (header {nv, nn, nt, nf}, {len(raw)} B)")
    out, off = [], 16
    for n, dtype, width in zip(sizes, (np.float32,) * 3 + (np.int32,), (3, 3, 2, 3), strict=True):
        out.append(np.frombuffer(raw, dtype, n, off).reshape(-1, width).copy())
        off += 4 * n
    return Msh(*out)


def write_msh(path: str | Path, mesh: Msh) -> None:
    v, n, t, f = (
        np.ascontiguousarray(a, dtype)
        for a, dtype in zip(mesh, (np.float32,) * 3 + (np.int32,), strict=True)
    )
    header = np.array([len(v), len(n), len(t), len(f)], np.int32)
    Path(path).write_bytes(b"".join(a.tobytes() for a in (header, v, n, t, f)))


def _read_stl(path: Path) -> np.ndarray:
    """Triangles (nf, 3, 3) of a binary or ASCII STL."""
    raw = path.read_bytes()
    if len(raw) >= 84:
        n = int(np.frombuffer(raw, np.uint32, 1, 80)[0])
        if len(raw) == 84 + 50 * n:
            rec = np.frombuffer(
                raw, np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]), n, 84
            )
            return rec["v"].astype(np.float32)
    words = raw.decode("ascii", errors="replace").split()
    coords = [words[i + 1 : i + 4] for i, w in enumerate(words) if w == "vertex"]
    if not coords or len(coords) % 3:
        raise ValueError(f"{path}: not a readable STL file")
    return np.asarray(coords, np.float32).reshape(-1, 3, 3)


def _write_stl(path: Path, tris: np.ndarray) -> None:
    tris = np.asarray(tris, np.float32)
    normals = _unit(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]))
    rec = np.zeros(len(tris), np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")]))
    rec["n"], rec["v"] = normals, tris
    header = b"ptrim lowpoly".ljust(80, b" ") + np.uint32(len(tris)).tobytes()
    path.write_bytes(header + rec.tobytes())


class _Obj(NamedTuple):
    v: np.ndarray  # (nv, 3) float64
    vn: np.ndarray  # (nn, 3)
    has_vt: bool
    fv: np.ndarray  # (nf, 3) int, into v
    fn: np.ndarray | None  # (nf, 3) int, into vn (None: some corner has no normal)


def _read_obj(path: Path) -> _Obj:
    """Positions, normals and triangles (polygons fanned) of a Wavefront OBJ; groups, materials
    and texture coordinates are not kept (only whether there are any)."""
    v, vn, fv, fn = [], [], [], []
    has_vt, all_normals = False, True
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "v":
            v.append([float(x) for x in parts[1:4]])
        elif tag == "vn":
            vn.append([float(x) for x in parts[1:4]])
        elif tag == "vt":
            has_vt = True
        elif tag == "f":
            corners = [c.split("/") for c in parts[1:]]
            iv = [_obj_index(c[0], len(v)) for c in corners]
            if all(len(c) >= 3 and c[2] for c in corners):
                jn = [_obj_index(c[2], len(vn)) for c in corners]
            else:
                jn, all_normals = [0] * len(corners), False
            for k in range(1, len(corners) - 1):
                fv.append((iv[0], iv[k], iv[k + 1]))
                fn.append((jn[0], jn[k], jn[k + 1]))
    return _Obj(
        np.asarray(v, np.float64).reshape(-1, 3),
        np.asarray(vn, np.float64).reshape(-1, 3),
        has_vt,
        np.asarray(fv, np.int64).reshape(-1, 3),
        np.asarray(fn, np.int64).reshape(-1, 3) if all_normals and vn else None,
    )


def _obj_index(text: str, n: int) -> int:
    i = int(text)
    return i - 1 if i > 0 else n + i  # OBJ counts from 1; negative counts back from the end


def _write_obj(path: Path, vertices: np.ndarray, normals: np.ndarray, fv, fn) -> None:
    lines = ["# decimated by ptrim.envs.lowpoly"]
    lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in vertices]
    lines += [f"vn {x:.9g} {y:.9g} {z:.9g}" for x, y, z in normals]
    if fn is None:
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in fv]
    else:
        lines += [
            f"f {a + 1}//{p + 1} {b + 1}//{q + 1} {c + 1}//{r + 1}"
            for (a, b, c), (p, q, r) in zip(fv, fn, strict=True)
        ]
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------ decimation
class _Result(NamedTuple):
    vertices: np.ndarray  # (nw, 3) welded positions (exact input values)
    texcoords: np.ndarray | None  # (nw, 2) welded texture coordinates, or None
    faces: np.ndarray  # (nf', 3) into vertices
    normals: np.ndarray | None  # (nf', 3, 3) per-corner normals, or None


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1)


def _rows(a: np.ndarray) -> np.ndarray:
    """Each row of a 2-D array as one opaque value (exact equality, for np.unique)."""
    a = np.ascontiguousarray(a)
    return a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()


def _flipped_area(v: np.ndarray, faces: np.ndarray, vnormal: np.ndarray) -> float:
    """Share of the surface area in faces that face away from the original surface (their
    normal against the mean original normal at their three vertices)."""
    cross = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    area = np.linalg.norm(cross, axis=1)
    away = np.einsum("fj,fj->f", cross, vnormal[faces].sum(1)) < 0
    return float(area[away].sum() / max(area.sum(), 1e-300))


def simplify(
    corners: np.ndarray,
    target: int,
    texcoords: np.ndarray | None = None,
    normals: np.ndarray | None = None,
) -> _Result:
    """Decimate triangles given by their corners towards ``target`` faces.

    ``corners`` (nf, 3, 3) positions, ``texcoords`` (nf, 3, 2) and ``normals`` (nf, 3, 3) per
    corner. Corners are welded on exact (position, texcoord) equality; see the module docstring
    for why seams survive. Raises ``RuntimeError`` if a kept vertex moved (it never should).

    MeshLab's normal check is only a penalty (cost × 1000), and in flat regions the cost is 0,
    so a collapse that folds a face over costs nothing there; once boundary vertices are all
    that is left to collapse it folds whole regions (10–20 % of the area, dark patches in
    renders). So the collapse runs in steps of :data:`_STEP` and stops at the last step whose
    folded area (:func:`_flipped_area`, beyond the input's own) is below :data:`_MAX_FLIPPED`:
    meshes with many UV seams stay above ``target``.
    """
    import pymeshlab

    nf = len(corners)
    pos = corners.reshape(-1, 3)
    key = pos if texcoords is None else np.concatenate([pos, texcoords.reshape(-1, 2)], 1)
    _, first, inv = np.unique(_rows(key), return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    wv = pos[first]
    wt = None if texcoords is None else texcoords.reshape(-1, 2)[first]
    wf = inv.reshape(nf, 3)
    wf = wf[(wf[:, 0] != wf[:, 1]) & (wf[:, 1] != wf[:, 2]) & (wf[:, 2] != wf[:, 0])]
    geo = np.cross(pos[1::3] - pos[0::3], pos[2::3] - pos[0::3]).astype(np.float64)
    vnormal = np.zeros((len(wv), 3))
    np.add.at(vnormal, inv, np.repeat(_unit(geo), 3, axis=0))  # original surface direction
    allowed = _flipped_area(wv, wf, vnormal) + _MAX_FLIPPED

    ms = pymeshlab.MeshSet()
    ms.add_mesh(
        pymeshlab.Mesh(
            vertex_matrix=wv.astype(np.float64),
            face_matrix=wf.astype(np.int32),
            v_scalar_array=np.arange(len(wv), dtype=np.float64),  # original index, carried along
        )
    )
    faces, goal = wf, len(wf)
    while goal > target:
        goal = max(int(target), int(goal * _STEP))
        # every parameter spelled out: MeshLab keeps unset ones from the previous call
        ms.meshing_decimation_quadric_edge_collapse(
            targetfacenum=goal,
            targetperc=0.0,
            qualitythr=0.3,
            preserveboundary=True,  # boundary vertices (UV seams, open borders) stay put
            boundaryweight=1.0,
            preservenormal=True,  # penalize collapses that flip a face (see above)
            preservetopology=True,
            optimalplacement=False,  # kept vertices keep their positions (and attributes)
            planarquadric=True,  # better-shaped triangles in flat regions (lit per vertex)
            planarweight=0.001,
            qualityweight=False,
            autoclean=False,  # cleaning merges the two vertices of a UV seam
            selected=False,
        )
        out = ms.current_mesh()
        ids = out.vertex_scalar_array().astype(np.int64)
        if not np.array_equal(out.vertex_matrix(), wv[ids].astype(np.float64)):
            raise RuntimeError("decimation moved a kept vertex")
        step = ids[out.face_matrix()]
        if _flipped_area(wv, step, vnormal) > allowed:
            break
        faces = step
        if len(step) > goal + 2:  # nothing left to collapse without folding
            break

    if normals is None:
        return _Result(wv, wt, faces, None)
    return _Result(wv, wt, faces, _corner_normals(wv, faces, inv, normals, geo))


def _corner_normals(
    wv: np.ndarray, faces: np.ndarray, inv: np.ndarray, normals: np.ndarray, geo: np.ndarray
) -> np.ndarray:
    """Normals (nf', 3, 3) for the corners of the decimated ``faces``.

    Computed from the input faces around each vertex (``inv``: input corner → vertex), each
    facing the way its stored ``normals`` do: an output corner takes the input face normal
    closest to its new face's normal (which side of a hard edge it is on), then the
    area-weighted mean of the input face normals at the vertex within :data:`_SMOOTH_DEG` of
    that one. Smooth surfaces come out smooth and hard edges hard; finely tessellated
    flat-shaded meshes (the Panda's, the scanned objects), whose look came from their many
    small facets, come out smooth rather than in large facets; and a normal tilted at a rounded
    rim is not smeared across the large faces next to it (stored normals would be).
    """
    stored = normals.reshape(-1, 3).astype(np.float64)
    src = np.repeat(_unit(geo), 3, axis=0)  # each input corner: its face's normal ...
    src *= np.where(np.einsum("cj,cj->c", src, stored) < 0, -1.0, 1.0)[:, None]  # ... outwards
    weight = np.repeat(np.linalg.norm(geo, axis=1), 3)  # the corner's face area (x2)
    new = _unit(np.cross(wv[faces[:, 1]] - wv[faces[:, 0]], wv[faces[:, 2]] - wv[faces[:, 0]]))
    # every (output corner, input corner at the same vertex) pair, grouped by output corner
    order = np.argsort(inv, kind="stable")
    counts = np.bincount(inv, minlength=len(wv))
    starts = np.cumsum(counts) - counts
    oc = faces.reshape(-1)
    cnt = counts[oc]
    group = np.cumsum(cnt) - cnt
    pair = np.repeat(np.arange(len(oc)), cnt)
    cand = order[np.repeat(starts[oc], cnt) + np.arange(len(pair)) - np.repeat(group, cnt)]
    score = np.einsum("pj,pj->p", src[cand], new[pair // 3])
    best = cand[np.lexsort((-score, pair))[group]]  # per output corner
    near = np.einsum("pj,pj->p", src[cand], src[best][pair]) > np.cos(np.radians(_SMOOTH_DEG))
    out = np.zeros((len(oc), 3))
    np.add.at(out, pair[near], src[cand[near]] * weight[cand[near], None])
    out = np.where(np.linalg.norm(out, axis=1, keepdims=True) > 0, out, src[best])
    return _unit(out).reshape(-1, 3, 3)


def _worth_it(res: _Result, nfaces: int) -> bool:
    """A copy saves at least 10 % of the faces (else the original file is used)."""
    return len(res.faces) <= 0.9 * nfaces


def _decimate_msh(src: Path, dst: Path, target_of, keep_texcoords: bool) -> bool:
    mesh = read_msh(src)
    f = mesh.faces
    target = target_of(len(f))
    if target is None:
        return False
    nv = len(mesh.vertices)
    tc = mesh.texcoords[f] if keep_texcoords and len(mesh.texcoords) == nv else None
    nrm = mesh.normals[f] if len(mesh.normals) == nv else None
    res = simplify(mesh.vertices[f], target, tc, nrm)
    if not _worth_it(res, len(f)):
        return False
    if res.normals is None:
        vid, inv = np.arange(len(res.vertices)), res.faces.reshape(-1)
        normals = np.zeros((0, 3), np.float32)
    else:  # one output vertex per distinct (welded vertex, normal)
        corner = np.concatenate(
            [res.faces.reshape(-1, 1).astype(np.float64), res.normals.reshape(-1, 3)], 1
        )
        _, first, inv = np.unique(_rows(corner), return_index=True, return_inverse=True)
        vid = res.faces.reshape(-1)[first]
        normals = res.normals.reshape(-1, 3)[first]
    texcoords = res.texcoords[vid] if res.texcoords is not None else np.zeros((0, 2))
    write_msh(dst, Msh(res.vertices[vid], normals, texcoords, inv.reshape(-1, 3)))
    return True


def _decimate_stl(src: Path, dst: Path, target_of) -> bool:
    tris = _read_stl(src)
    target = target_of(len(tris))
    if target is None:
        return False
    res = simplify(tris, target)
    if not _worth_it(res, len(tris)):
        return False
    _write_stl(dst, res.vertices[res.faces])
    return True


def _decimate_obj(src: Path, dst: Path, target_of, keep_texcoords: bool) -> bool:
    obj = _read_obj(src)
    if obj.has_vt and keep_texcoords:
        return False  # per-corner UVs: left alone (see decimate_file)
    target = target_of(len(obj.fv))
    if target is None:
        return False
    nrm = obj.vn[obj.fn] if obj.fn is not None else None
    res = simplify(obj.v[obj.fv], target, None, nrm)
    if not _worth_it(res, len(obj.fv)):
        return False
    if res.normals is None:
        _write_obj(dst, res.vertices, np.zeros((0, 3)), res.faces, None)
    else:
        uniq, inv = np.unique(_rows(res.normals.reshape(-1, 3)), return_inverse=True)
        vn = uniq.view(res.normals.dtype).reshape(-1, 3)
        _write_obj(dst, res.vertices, vn, res.faces, inv.reshape(-1, 3))
    return True


def decimate_file(
    path: str | Path,
    *,
    ratio: float = RATIO,
    min_faces: int = MIN_FACES,
    keep_texcoords: bool = True,
    cache: str | Path | None = None,
) -> Path:
    """A decimated copy of the mesh file ``path`` (``.msh``, ``.stl``, ``.obj``), or ``path``.

    Meshes with more than ``min_faces`` faces are reduced to ``max(min_faces, ratio * faces)``
    (more are kept where UV seams and borders leave no more to collapse without folding faces,
    see :func:`simplify`); smaller ones and other formats are returned as they are. A file
    that cannot be parsed raises (:func:`lowpoly_xml` then keeps the original).

    ``keep_texcoords=False`` says the mesh is drawn without a texture: its texture coordinates
    are then dropped and do not constrain the decimation. With ``keep_texcoords=True`` an
    ``.obj`` that has ``vt`` coordinates is returned unchanged: OBJ stores UVs per face corner
    and this module only carries per-vertex attributes safely. (``.msh`` UVs are per vertex and
    are kept exactly; ``.stl`` has none.)

    The copy lives in ``cache`` (default :func:`cache_dir`) under a name hashed from the source
    bytes, the parameters and :data:`FORMAT_VERSION`, so a stale entry is never used; it is
    written to a temporary file and renamed, so concurrent processes may race safely.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".msh", ".stl", ".obj"):
        return path
    data = path.read_bytes()
    params = (
        f"v{FORMAT_VERSION} ratio={float(ratio)!r} min={int(min_faces)} uv={keep_texcoords} "
        f"step={_STEP} flipped={_MAX_FLIPPED} smooth={_SMOOTH_DEG} "
        f"pymeshlab={importlib.metadata.version('pymeshlab')}"
    )
    digest = hashlib.sha256(data + b"\0" + params.encode()).hexdigest()[:20]
    folder = Path(cache) if cache is not None else cache_dir()
    out = folder / f"{path.stem}-{digest}{ext}"
    keep = folder / f"{path.stem}-{digest}.keep"  # "nothing to gain": use the original
    if out.exists():
        return out
    if keep.exists():
        return path

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}-", suffix=ext)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        target_of = lambda n: target_faces(n, ratio, min_faces)  # noqa: E731
        if ext == ".msh":
            made = _decimate_msh(path, tmp, target_of, keep_texcoords)
        elif ext == ".stl":
            made = _decimate_stl(path, tmp, target_of)
        else:
            made = _decimate_obj(path, tmp, target_of, keep_texcoords)
        if made:
            os.replace(tmp, out)
            return out
        os.replace(tmp, keep)  # an empty marker
        return path
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------ MJCF
def _mesh_dir(root: ET.Element) -> str:
    """The directory MuJoCo resolves relative mesh files against (``meshdir``, else ``assetdir``;
    relative to the working directory for a model compiled from a string)."""
    meshdir = assetdir = ""
    for comp in root.iter("compiler"):
        meshdir = comp.get("meshdir", meshdir)
        assetdir = comp.get("assetdir", assetdir)
    return meshdir or assetdir


def visual_only_meshes(model) -> dict[int, bool]:
    """``{mesh id: textured}`` for meshes drawn by at least one geom and used only by geoms
    with ``contype == 0 and conaffinity == 0`` that no explicit contact ``<pair>`` names.
    ``textured``: some geom drawing it has a material with a texture."""
    import mujoco

    mesh_geoms: dict[int, list[int]] = {}
    for g in np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_MESH):
        mesh_geoms.setdefault(int(model.geom_dataid[g]), []).append(int(g))
    paired = set(model.pair_geom1.tolist()) | set(model.pair_geom2.tolist())
    out = {}
    for mesh, geoms in mesh_geoms.items():
        if any(
            model.geom_contype[g] != 0 or model.geom_conaffinity[g] != 0 or g in paired
            for g in geoms
        ):
            continue
        mats = [int(model.geom_matid[g]) for g in geoms]
        out[mesh] = any(m >= 0 and (np.asarray(model.mat_texid[m]) >= 0).any() for m in mats)
    return out


def _lowpoly(xml: str, **params) -> tuple[str, object]:
    """:func:`lowpoly_xml`, also returning the model compiled from the original ``xml``."""
    import mujoco

    model = mujoco.MjModel.from_xml_string(xml)
    meshes = visual_only_meshes(model)
    root = ET.fromstring(xml)
    meshdir = _mesh_dir(root)
    changed = False
    for asset in root.iter("asset"):
        for el in asset.findall("mesh"):
            file = el.get("file")
            if not file:
                continue
            name = el.get("name") or Path(file).stem  # MuJoCo's default mesh name
            mesh_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_MESH, name)
            if mesh_id not in meshes:
                continue
            src = Path(file) if os.path.isabs(file) else Path(meshdir) / file
            if not src.is_file():
                continue
            try:
                dst = decimate_file(src, keep_texcoords=meshes[mesh_id], **params)
            except Exception as exc:  # an unreadable or odd file: draw the original
                log.warning("%s: not decimated (%s: %s)", src, type(exc).__name__, exc)
                continue
            if dst != src:
                el.set("file", str(dst.resolve()))
                changed = True
    return (ET.tostring(root, encoding="unicode") if changed else xml), model


def lowpoly_xml(xml: str, **params) -> str:
    """``xml`` with every visual-only mesh (:func:`visual_only_meshes`) replaced by its
    decimated copy (:func:`decimate_file`; ``params``: ``ratio``, ``min_faces``, ``cache``).

    A mesh that any colliding geom uses is never touched, so contacts are the same; whether a
    visual geom's mass counts is up to the model (robosuite's ``inertiagrouprange="0 0"`` leaves
    visual geoms, group 1, out) — :func:`lowpoly_models` checks that the physics is unchanged.
    Relative mesh files are resolved as MuJoCo does for a model compiled from a string
    (``meshdir``/``assetdir`` or the working directory); replacements are absolute paths.
    """
    return _lowpoly(xml, **params)[0]


# Model fields that decide the dynamics; a visual mesh may change none of them.
_PHYSICS_PREFIXES = ("body_", "jnt_", "dof_", "actuator_", "eq_", "tendon_", "pair_", "exclude_")
_SKIP = {"body_bvhadr", "body_bvhnum"}  # bounding-volume bookkeeping, not dynamics


def same_physics(a, b) -> list[str]:
    """Names of the dynamics fields where models ``a`` and ``b`` differ ([] if none): bodies'
    masses and inertias, joints, dofs, actuators, constraints, options, and every ``geom_*``
    field of the colliding geoms (visual geoms' frames and bounds follow their meshes)."""
    bad = []
    if (a.nq, a.nv, a.nu, a.nbody, a.ngeom) != (b.nq, b.nv, b.nu, b.nbody, b.ngeom):
        return ["sizes"]
    colliding = (a.geom_contype != 0) | (a.geom_conaffinity != 0)
    for name in dir(a):
        x, y = getattr(a, name), getattr(b, name)
        if not isinstance(x, np.ndarray):
            continue
        if name.startswith("geom_"):
            x, y = x[colliding], y[colliding]
        elif not name.startswith(_PHYSICS_PREFIXES) or name in _SKIP:
            continue
        if not np.array_equal(x, y):
            bad.append(name)
    for name in dir(a.opt):
        x = getattr(a.opt, name)
        if not name.startswith("_") and isinstance(x, (int, float, np.ndarray)):
            if not np.array_equal(x, getattr(b.opt, name)):
                bad.append(f"opt.{name}")
    return bad


@contextlib.contextmanager
def lowpoly_models(**params) -> Iterator[None]:
    """While active, every ``robosuite.utils.binding_utils.MjSim.from_xml_string`` (what
    robosuite's ``MujocoEnv._initialize_sim`` calls) compiles :func:`lowpoly_xml` of its XML.
    Should the dynamics (:func:`same_physics`) differ from the original model's — a visual geom
    whose mass counts, say — it warns and compiles the original XML instead. Not thread-safe
    (it swaps a class attribute); restored on exit."""
    from robosuite.utils.binding_utils import MjSim

    original = MjSim.__dict__["from_xml_string"]

    def from_xml_string(cls, xml):
        low, full = _lowpoly(xml, **params)
        sim = original.__func__(cls, low)
        if diff := same_physics(full, sim.model._model):
            log.warning("low-poly meshes would change the dynamics (%s): full meshes used", diff)
            return original.__func__(cls, xml)
        return sim

    MjSim.from_xml_string = classmethod(from_xml_string)
    try:
        yield
    finally:
        MjSim.from_xml_string = original
