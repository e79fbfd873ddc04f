"""Low-poly visual meshes (ptrim/envs/lowpoly.py): file formats, decimation that keeps UVs,
the cache, which meshes an MJCF may swap, and (sim) identical physics in LIBERO."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ptrim.envs import lowpoly

ACTIONS = np.random.default_rng(0).uniform(-1, 1, size=(20, 7))


def uv_sphere(nlat: int = 60, nlon: int = 120) -> lowpoly.Msh:
    """A unit sphere with per-vertex UVs: a seam at u = 0 / 1 (one position, two UVs) and
    poles split per longitude — the open boundaries UV seams make in LIBERO's .msh files."""
    i, j = np.meshgrid(np.arange(nlat + 1), np.arange(nlon + 1), indexing="ij")
    theta, phi = np.pi * i / nlat, 2 * np.pi * j / nlon
    v = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1)
    v[:, -1] = v[:, 0]  # the seam column: the same positions as the first one, exactly
    uv = np.stack([j / nlon, 1 - i / nlat], -1)
    idx = np.arange((nlat + 1) * (nlon + 1)).reshape(nlat + 1, nlon + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    # two triangles per quad, less the zero-area ones at the poles
    faces = np.concatenate([np.stack([a, b, c], -1)[:-1], np.stack([a, c, d], -1)[1:]])
    faces = faces.reshape(-1, 3)
    v = v.reshape(-1, 3).astype(np.float32)
    return lowpoly.Msh(v, v.copy(), uv.reshape(-1, 2).astype(np.float32), faces.astype(np.int32))


def mesh_xml(assets: str, body: str) -> str:
    return f"<mujoco><asset>{assets}</asset><worldbody>{body}</worldbody></mujoco>"


def load_mesh(path) -> object:
    import mujoco

    return mujoco.MjModel.from_xml_string(
        mesh_xml(f'<mesh name="m" file="{path}"/>', '<geom type="mesh" mesh="m"/>')
    )


# ------------------------------------------------------------------ formats
def test_msh_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    mesh = lowpoly.Msh(
        rng.normal(size=(30, 3)).astype(np.float32),
        rng.normal(size=(30, 3)).astype(np.float32),
        rng.uniform(size=(30, 2)).astype(np.float32),
        rng.integers(0, 30, size=(40, 3)).astype(np.int32),
    )
    lowpoly.write_msh(tmp_path / "a.msh", mesh)
    back = lowpoly.read_msh(tmp_path / "a.msh")
    assert all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(mesh, back, strict=True))
    lowpoly.write_msh(tmp_path / "b.msh", back)
    assert (tmp_path / "a.msh").read_bytes() == (tmp_path / "b.msh").read_bytes()
    (tmp_path / "bad.msh").write_bytes(b"\0" * 20)
    with pytest.raises(ValueError, match="not a MuJoCo .msh"):
        lowpoly.read_msh(tmp_path / "bad.msh")


# ------------------------------------------------------------------ decimation
def test_decimation_reaches_target_and_keeps_every_vertex_attribute(tmp_path):
    sphere = uv_sphere()
    src = tmp_path / "sphere.msh"
    lowpoly.write_msh(src, sphere)
    nf = len(sphere.faces)
    target = lowpoly.target_faces(nf, ratio=0.1, min_faces=500)
    assert nf > 10_000 and target == nf // 10

    out = lowpoly.decimate_file(src, ratio=0.1, min_faces=500, cache=tmp_path / "cache")
    assert out != src and out.parent == tmp_path / "cache" and out.suffix == ".msh"
    low = lowpoly.read_msh(out)
    assert len(low.faces) <= target
    # every kept vertex is an input vertex: same position, same UV (seams included)
    before = {(tuple(p), tuple(t)) for p, t in zip(sphere.vertices, sphere.texcoords, strict=True)}
    assert {
        (tuple(p), tuple(t)) for p, t in zip(low.vertices, low.texcoords, strict=True)
    } <= before
    # no face reaches across the seam (u = 0.99 next to u = 0.0 would smear the whole texture)
    assert (np.ptp(low.texcoords[low.faces][..., 0], axis=1) < 0.5).all()
    # no face folded over (outward on a sphere), normals stay radial and unit
    v = low.vertices.astype(np.float64)
    f = low.faces
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert (np.einsum("fj,fj->f", n, v[f].mean(1)) > 0).all()
    assert np.allclose(np.linalg.norm(low.normals, axis=1), 1, atol=1e-5)
    assert (np.einsum("vj,vj->v", low.normals, v) > 0.95).all()
    model = load_mesh(out)  # MuJoCo reads the file
    assert model.mesh_facenum[0] == len(low.faces) and model.mesh_texcoordnum[0] > 0


def test_small_meshes_and_other_formats_are_used_as_they_are(tmp_path):
    sphere = uv_sphere(8, 16)
    lowpoly.write_msh(tmp_path / "small.msh", sphere)
    assert lowpoly.target_faces(len(sphere.faces), min_faces=2000) is None
    cache = tmp_path / "cache"
    assert lowpoly.decimate_file(tmp_path / "small.msh", cache=cache) == tmp_path / "small.msh"
    (tmp_path / "a.ply").write_text("ply\n")
    assert lowpoly.decimate_file(tmp_path / "a.ply", cache=cache) == tmp_path / "a.ply"


def write_obj(path, mesh: lowpoly.Msh, uv: bool) -> None:
    lines = [f"v {x} {y} {z}" for x, y, z in mesh.vertices]
    lines += [f"vn {x} {y} {z}" for x, y, z in mesh.normals]
    lines += [f"vt {u} {w}" for u, w in mesh.texcoords] if uv else []
    fmt = "{0}/{0}/{0}" if uv else "{0}//{0}"
    lines += ["f " + " ".join(fmt.format(i + 1) for i in face) for face in mesh.faces]
    path.write_text("\n".join(lines) + "\n")


def test_obj_with_uvs_is_left_alone_unless_drawn_without_texture(tmp_path):
    sphere = uv_sphere()
    cache = tmp_path / "cache"
    write_obj(tmp_path / "plain.obj", sphere, uv=False)
    write_obj(tmp_path / "uv.obj", sphere, uv=True)
    kw = {"ratio": 0.1, "min_faces": 500, "cache": cache}
    assert lowpoly.decimate_file(tmp_path / "uv.obj", **kw) == tmp_path / "uv.obj"
    for out in (
        lowpoly.decimate_file(tmp_path / "plain.obj", **kw),
        lowpoly.decimate_file(tmp_path / "uv.obj", keep_texcoords=False, **kw),
    ):
        assert out.parent == cache and "vt " not in out.read_text()
        assert load_mesh(out).mesh_facenum[0] <= len(sphere.faces) // 10


def test_stl_is_decimated(tmp_path):
    sphere = uv_sphere()
    tris = sphere.vertices[sphere.faces]
    lowpoly._write_stl(tmp_path / "s.stl", tris)
    assert np.array_equal(lowpoly._read_stl(tmp_path / "s.stl"), tris)
    out = lowpoly.decimate_file(tmp_path / "s.stl", ratio=0.1, min_faces=500, cache=tmp_path)
    assert out.suffix == ".stl" and len(lowpoly._read_stl(out)) <= len(tris) // 10
    assert load_mesh(out).mesh_facenum[0] > 0


def test_cache_hit_reuses_the_file_and_any_change_misses(tmp_path, monkeypatch):
    src = tmp_path / "sphere.msh"
    lowpoly.write_msh(src, uv_sphere())
    monkeypatch.setenv(lowpoly.CACHE_ENV, str(tmp_path / "env-cache"))
    assert lowpoly.cache_dir() == tmp_path / "env-cache"
    first = lowpoly.decimate_file(src, min_faces=500)
    assert first.parent == tmp_path / "env-cache"
    stamp = first.stat().st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("recomputed on a cache hit")

    with monkeypatch.context() as m:
        m.setattr(lowpoly, "simplify", boom)
        assert lowpoly.decimate_file(src, min_faces=500) == first
    assert first.stat().st_mtime_ns == stamp
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temp files
    assert lowpoly.decimate_file(src, min_faces=600) != first  # other parameters
    monkeypatch.setattr(lowpoly, "FORMAT_VERSION", lowpoly.FORMAT_VERSION + 1)
    assert lowpoly.decimate_file(src, min_faces=500) != first  # another format version
    mesh = lowpoly.read_msh(src)
    mesh.texcoords[0, 0] += 0.5
    lowpoly.write_msh(src, mesh)
    assert lowpoly.decimate_file(src, min_faces=500) != first  # other source bytes


# ------------------------------------------------------------------ MJCF
def test_lowpoly_xml_swaps_only_meshes_no_colliding_geom_uses(tmp_path):
    import mujoco

    for name in ("vis", "col", "shared"):
        lowpoly.write_msh(tmp_path / f"{name}.msh", uv_sphere())
    xml = mesh_xml(
        "".join(f'<mesh name="{n}" file="{n}.msh"/>' for n in ("vis", "col", "shared")),
        '<body pos="0 0 1"><freejoint/>'
        '<geom type="mesh" mesh="col"/>'
        '<geom type="mesh" mesh="shared"/>'
        '<geom type="mesh" mesh="vis" contype="0" conaffinity="0" group="1" mass="0"/>'
        '<geom type="mesh" mesh="shared" contype="0" conaffinity="0" group="1" mass="0"/>'
        "</body>",
    ).replace("<mujoco>", f'<mujoco><compiler meshdir="{tmp_path}"/>')
    low = lowpoly.lowpoly_xml(xml, min_faces=500, cache=tmp_path / "cache")
    files = {m.get("name"): m.get("file") for m in ET.fromstring(low).iter("mesh")}
    assert files["col"] == "col.msh" and files["shared"] == "shared.msh"
    assert files["vis"].startswith(str(tmp_path / "cache"))
    full_model, low_model = (mujoco.MjModel.from_xml_string(x) for x in (xml, low))
    assert lowpoly.same_physics(full_model, low_model) == []
    vis = mujoco.mj_name2id(low_model, mujoco.mjtObj.mjOBJ_MESH, "vis")
    assert low_model.mesh_facenum[vis] < full_model.mesh_facenum[vis]
    assert set(lowpoly.visual_only_meshes(full_model)) == {vis}


def test_a_visual_mesh_whose_mass_counts_is_caught(tmp_path, caplog):
    """A visual-only geom with mass (no ``inertiagrouprange`` excluding it) shapes its body's
    inertia: swapping its mesh would change the dynamics, so the original model is used."""
    import mujoco
    from robosuite.utils.binding_utils import MjSim

    lowpoly.write_msh(tmp_path / "vis.msh", uv_sphere())
    xml = mesh_xml(
        f'<mesh name="vis" file="{tmp_path / "vis.msh"}"/>',
        '<body><freejoint/><geom type="mesh" mesh="vis" contype="0" conaffinity="0"/></body>',
    )
    params = {"min_faces": 500, "cache": tmp_path / "cache"}
    low = lowpoly.lowpoly_xml(xml, **params)
    full_model, low_model = (mujoco.MjModel.from_xml_string(x) for x in (xml, low))
    assert "body_mass" in lowpoly.same_physics(full_model, low_model)
    with lowpoly.lowpoly_models(**params):
        sim = MjSim.from_xml_string(xml)
    assert "full meshes used" in caplog.text
    assert sim.model._model.mesh_facenum[0] == full_model.mesh_facenum[0]
    assert MjSim.__dict__["from_xml_string"].__func__.__module__.startswith("robosuite")  # restored


# ------------------------------------------------------------------ LIBERO
def test_libero_env_rejects_unknown_visual_meshes():
    from ptrim.envs.libero import LiberoEnv

    with pytest.raises(ValueError, match="visual_meshes = 'simple'"):
        LiberoEnv("object", 0, visual_meshes="simple")


@pytest.mark.sim
def test_lowpoly_libero_has_identical_physics_and_renders():
    from ptrim.envs.libero import LiberoEnv

    kw = {"image_size": 32, "cameras": ("agentview", "wrist"), "settle_steps": 5}
    full = LiberoEnv("object", 0, **kw)
    full.reset(0)
    seen = full.observe()["images"]["agentview"]
    low = LiberoEnv("object", 0, visual_meshes="lowpoly", **kw)
    low.reset(0)
    assert np.array_equal(full.get_state(), low.get_state())
    for a in ACTIONS:
        assert full.step(a) == low.step(a)
        assert np.array_equal(full.get_state(), low.get_state())
    assert np.array_equal(full.proprio(), low.proprio())
    m_full, m_low = full.sim.model._model, low.sim.model._model
    assert lowpoly.same_physics(m_full, m_low) == []
    assert m_low.mesh_facenum.sum() < 0.6 * m_full.mesh_facenum.sum()

    images = low.observe()["images"]
    for cam, img in images.items():
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and img.std() > 5
        diff = np.abs(img.astype(int) - full.observe()["images"][cam])
        assert diff.mean() < 5  # the same scene, slightly different facets
    # each env renders in its own GL context (not the one built last), and closing one env
    # frees its own GL objects, not those of the env whose context happens to be current
    full.reset(0)
    assert np.array_equal(full.observe()["images"]["agentview"], seen)
    low.close()
    assert np.array_equal(full.observe()["images"]["agentview"], seen)
    full.close()
