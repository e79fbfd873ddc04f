"""Demonstration files: round trip, real LIBERO layout, resume after a crash, errors, dataset."""

from __future__ import annotations

import json
import shutil
import time

import h5py
import numpy as np
import pytest
import torch

from ptrim.data import ChunkDataset, DataError, Demo, DemoFile, DemoWriter, collate, write_demo_file

INSTRUCTION = "put the bowl on the plate"
PROBLEM_INFO = {"problem_name": "p", "domain_name": "d", "language_instruction": INSTRUCTION}
ENV_ARGS = {"env_name": "Libero_Tabletop_Manipulation", "type": 1, "env_kwargs": {"x": 1}}
SIZE = 16


def upright_pattern(size: int = SIZE) -> np.ndarray:
    """[size, size, 3] uint8: top row red, bottom row blue, a gradient between."""
    img = np.zeros((size, size, 3), dtype=np.uint8)
    img[:, :, 1] = np.arange(size, dtype=np.uint8)[:, None] * 10
    img[0] = (255, 0, 0)
    img[-1] = (0, 0, 255)
    return img


def make_demo(length: int, seed: int, size: int = SIZE) -> Demo:
    """A demo whose every array differs from every other demo's (seeded)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
    ee_pos, ee_ori = rng.normal(size=(length, 3)), rng.normal(size=(length, 3))
    gripper = rng.normal(size=(length, 2))
    return Demo(
        actions=rng.uniform(-1, 1, (length, 7)),
        states=rng.normal(size=(length, 20)),
        robot_states=rng.normal(size=(length, 9)),
        rewards=(np.arange(length) == length - 1).astype(np.uint8),
        dones=(np.arange(length) == length - 1).astype(np.uint8),
        obs={
            "agentview_rgb": frames,
            "eye_in_hand_rgb": 255 - frames,
            "ee_states": np.concatenate([ee_pos, ee_ori], axis=1),
            "ee_pos": ee_pos,
            "ee_ori": ee_ori,
            "gripper_states": gripper,
            "joint_states": rng.normal(size=(length, 7)),
        },
        init_state=rng.normal(size=20),
        events=[{"kind": "hesitation", "step": np.int64(seed), "steps": 2}],
        meta={"seed": seed, "redundancy": 0.5, "expert": "scripted"},
    )


def proprio_of(demo: Demo) -> np.ndarray:
    """The env adapter's 8-D proprio: ee_pos(3), ee_ori(3), gripper(2)."""
    return np.concatenate([demo.obs["ee_pos"], demo.obs["ee_ori"], demo.obs["gripper_states"]], 1)


def write(path, demos, **kwargs):
    return write_demo_file(path, demos, problem_info=PROBLEM_INFO, env_args=ENV_ARGS, **kwargs)


def assert_same_demo(got: Demo, want: Demo) -> None:
    for name, array in want.arrays().items():
        np.testing.assert_array_equal(got.arrays()[name], array, err_msg=name)
        assert got.arrays()[name].dtype == array.dtype, name
    assert set(got.obs) == set(want.obs)
    np.testing.assert_array_equal(got.init_state, want.init_state)
    assert got.events == json.loads(json.dumps(want.events, default=int))
    assert got.meta == want.meta


# ---------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("convention", ["opencv", "opengl"])
def test_round_trip_preserves_arrays_attrs_events_and_meta(tmp_path, convention):
    demos = [make_demo(length, seed) for seed, length in enumerate((5, 12, 8))]
    path = write(
        tmp_path / "demos.hdf5",
        demos,
        image_convention=convention,
        attrs={"bddl_file_name": "task.bddl"},
    )
    with h5py.File(path) as f:
        assert f["data"].attrs["num_demos"] == 3 and f["data"].attrs["total"] == 25
        chunks = f["data/demo_0/obs/agentview_rgb"].chunks
        assert chunks == (1, SIZE, SIZE, 3)
    with DemoFile(path) as f:
        assert (f.num_demos, len(f), f.total) == (3, 3, 25)
        assert f.demo_keys == ["demo_0", "demo_1", "demo_2"]
        assert f.lengths().tolist() == [5, 12, 8]
        assert f.instruction == INSTRUCTION
        assert f.problem_info == PROBLEM_INFO and f.env_args == ENV_ARGS
        assert f.image_convention == convention
        assert f.attrs["bddl_file_name"] == "task.bddl"
        for i, demo in enumerate(demos):
            assert_same_demo(f[i], demo)
        assert_same_demo(f[-1], demos[-1])
        with pytest.raises(IndexError):
            f[3]


def test_opengl_files_store_images_bottom_up(tmp_path):
    demo = make_demo(3, 0)
    demo.obs["agentview_rgb"][:] = upright_pattern()
    path = write(tmp_path / "gl.hdf5", [demo], image_convention="opengl")
    with h5py.File(path) as f:
        stored = f["data/demo_0/obs/agentview_rgb"][0]
    assert tuple(stored[-1, 0]) == (255, 0, 0) and tuple(stored[0, 0]) == (0, 0, 255)


def test_the_same_demos_make_byte_identical_files(tmp_path):
    """Nothing but the demos in the file (no recording time, no object timestamps): re-recording
    the same demos (a fresh clone's `dvc repro`) gives the same bytes, hence the same DVC hash."""
    demos = [make_demo(3, 0), make_demo(4, 1)]
    first = write(tmp_path / "first.hdf5", demos).read_bytes()
    time.sleep(1.1)  # anything time-stamped (to the second) would now differ
    assert write(tmp_path / "second.hdf5", demos).read_bytes() == first


def test_demo_keys_sort_numerically(tmp_path):
    path = write(tmp_path / "many.hdf5", [make_demo(2, seed) for seed in range(12)])
    with DemoFile(path) as f:
        assert f.demo_keys == [f"demo_{i}" for i in range(12)]
        assert f.num_demos == 12
        assert f[10].meta["seed"] == 10


def test_writer_rejects_inconsistent_demos(tmp_path):
    demo = make_demo(5, 0)
    demo.obs["ee_pos"] = demo.obs["ee_pos"][:4]
    with DemoWriter(tmp_path / "x.hdf5", problem_info=PROBLEM_INFO, env_args=ENV_ARGS) as w:
        with pytest.raises(ValueError, match="obs/ee_pos"):
            w.add(demo)
        assert w.num_demos == 0
    with DemoFile(tmp_path / "x.hdf5") as f:
        assert f.num_demos == 0


# ---------------------------------------------------------------------------- real LIBERO layout
def write_libero_like(path, convention_attr, *, length: int = 4) -> None:
    """Write a file by hand, the way LIBERO's create_dataset does (images bottom-up)."""
    upright = np.stack([upright_pattern()] * length)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps(ENV_ARGS)
        data.attrs["problem_info"] = json.dumps(PROBLEM_INFO).encode()
        if convention_attr is not None:
            data.attrs["macros_image_convention"] = convention_attr
        data.attrs["num_demos"] = np.int64(1)
        data.attrs["total"] = np.int64(length)
        data.attrs["bddl_file_name"] = b"libero/bddl_files/x.bddl"
        data.attrs["tag"] = "libero-v1"
        demo = data.create_group("demo_0")
        demo.attrs["num_samples"] = np.int64(length)
        demo.attrs["init_state"] = np.zeros(20)
        demo.attrs["model_file"] = "<mujoco/>"
        demo.create_dataset("actions", data=np.ones((length, 7)))
        demo.create_dataset("states", data=np.zeros((length, 20)))
        demo.create_dataset("robot_states", data=np.zeros((length, 9)))
        demo.create_dataset("rewards", data=np.zeros(length, dtype=np.uint8))
        demo.create_dataset("dones", data=np.zeros(length, dtype=np.uint8))
        obs = demo.create_group("obs")
        obs.create_dataset("agentview_rgb", data=upright[:, ::-1])
        obs.create_dataset("eye_in_hand_rgb", data=upright[:, ::-1])
        for name, width in [("ee_pos", 3), ("ee_ori", 3), ("gripper_states", 2)]:
            obs.create_dataset(name, data=np.full((length, width), width, dtype=np.float64))


@pytest.mark.parametrize(
    "convention_attr",
    [b"opengl", "opengl", np.bytes_(b"opengl"), np.array([b"opengl"]), None],
    ids=["bytes", "str", "np.bytes_", "np.array", "missing"],
)
def test_libero_file_reads_upright(tmp_path, convention_attr):
    path = tmp_path / "libero.hdf5"
    write_libero_like(path, convention_attr)
    with DemoFile(path) as f:
        assert f.image_convention == "opengl"
        assert f.instruction == INSTRUCTION
        assert f.lengths().tolist() == [4]
        demo = f[0]
        assert demo.events == [] and demo.meta == {}
        for image in (demo.obs["agentview_rgb"], f.read(0, "obs/agentview_rgb")):
            np.testing.assert_array_equal(image, np.stack([upright_pattern()] * 4))
        frame = f.read(0, "obs/eye_in_hand_rgb", t=2)
        assert tuple(frame[0, 0]) == (255, 0, 0) and tuple(frame[-1, 0]) == (0, 0, 255)


def test_own_opencv_file_is_not_flipped(tmp_path):
    demo = make_demo(3, 0)
    demo.obs["agentview_rgb"][:] = upright_pattern()
    path = write(tmp_path / "ours.hdf5", [demo])
    with h5py.File(path) as f:
        assert f["data"].attrs["macros_image_convention"] == "opencv"
        np.testing.assert_array_equal(f["data/demo_0/obs/agentview_rgb"][1], upright_pattern())
    with DemoFile(path) as f:
        np.testing.assert_array_equal(f[0].obs["agentview_rgb"][1], upright_pattern())


def test_libero_file_trains_like_ours(tmp_path):
    path = tmp_path / "libero.hdf5"
    write_libero_like(path, b"opengl")
    item = ChunkDataset(path, horizon=2)[0]
    assert tuple(item["images"]["agentview"][0, 0]) == (255, 0, 0)
    assert item["instruction"] == INSTRUCTION
    assert item["proprio"].tolist() == [3, 3, 3, 3, 3, 3, 2, 2]


# ---------------------------------------------------------------------------- resume
def test_append_continues_numbering_and_drops_a_crashed_demo(tmp_path):
    path = tmp_path / "demos.hdf5"
    demos = [make_demo(4 + i, i) for i in range(5)]
    with DemoWriter(path, problem_info=PROBLEM_INFO, env_args=ENV_ARGS, append=True) as w:
        assert [w.add(d) for d in demos[:2]] == ["demo_0", "demo_1"]
    with DemoWriter(path, append=True) as w:
        assert w.num_demos == 2
        assert w.add(demos[2]) == "demo_2"
    with h5py.File(path, "a") as f:  # a crash mid-demo: group and data, no num_samples
        f.create_group("data/demo_3").create_dataset("actions", data=np.zeros((9, 7)))
    with pytest.raises(DataError, match="num_demos is 3 but the file has 4"):
        DemoFile(path)
    with DemoWriter(path, problem_info=PROBLEM_INFO, append=True) as w:
        assert w.num_demos == 3
        assert [m["seed"] for m in w.metas()] == [0, 1, 2]  # what a resumed recording skips
        assert w.add(demos[3]) == "demo_3"
    with DemoFile(path) as f:
        assert f.demo_keys == ["demo_0", "demo_1", "demo_2", "demo_3"]
        assert f.total == 4 + 5 + 6 + 7
        for i in range(4):
            assert_same_demo(f[i], demos[i])


def test_append_refuses_another_task(tmp_path):
    path = write(tmp_path / "demos.hdf5", [make_demo(3, 0)])
    with pytest.raises(ValueError, match="needs problem_info"):
        DemoWriter(path)  # a new file without metadata: refused before truncating this one
    with DemoFile(path) as f:
        assert f.num_demos == 1
    other = PROBLEM_INFO | {"language_instruction": "open the drawer"}
    with pytest.raises(DataError, match="problem_info"):
        DemoWriter(path, problem_info=other, append=True)
    with pytest.raises(DataError, match="macros_image_convention"):
        DemoWriter(path, image_convention="opengl", append=True)


def test_file_is_readable_after_each_flushed_demo(tmp_path):
    path, killed = tmp_path / "demos.hdf5", tmp_path / "killed.hdf5"
    demos = [make_demo(3, 0), make_demo(4, 1)]
    writer = DemoWriter(path, problem_info=PROBLEM_INFO, env_args=ENV_ARGS)
    for demo in demos:
        writer.add(demo)
    shutil.copyfile(path, killed)  # the bytes a process killed now would leave on disk
    writer.close()
    with DemoFile(killed) as f:
        assert (f.num_demos, f.total) == (2, 7)
        assert_same_demo(f[1], demos[1])


# ---------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nothere.hdf5: no such file"):
        DemoFile(tmp_path / "nothere.hdf5")


def test_truncated_file(tmp_path):
    path = write(tmp_path / "cut.hdf5", [make_demo(6, 0), make_demo(6, 1)])
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(DataError, match="cut.hdf5"):
        DemoFile(path)


def test_missing_dataset_names_file_demo_and_key(tmp_path):
    path = write(tmp_path / "demos.hdf5", [make_demo(4, 0), make_demo(5, 1)])
    with h5py.File(path, "a") as f:
        del f["data/demo_1/obs/agentview_rgb"]
    missing = r"demos.hdf5: demo_1: missing dataset 'obs/agentview_rgb'"
    with DemoFile(path) as f:
        f[0]  # the intact demo still reads
        with pytest.raises(DataError, match=missing):
            f.read(1, "obs/agentview_rgb")
        assert "agentview_rgb" not in f[1].obs  # a whole demo loads what obs/ holds
    with pytest.raises(DataError, match=missing):
        ChunkDataset(path, horizon=2)


def test_missing_attribute_and_group(tmp_path):
    path = write(tmp_path / "demos.hdf5", [make_demo(4, 0)])
    with h5py.File(path, "a") as f:
        del f["data"].attrs["problem_info"]
    with pytest.raises(DataError, match="demos.hdf5: missing attribute 'problem_info'"):
        DemoFile(path)
    with h5py.File(tmp_path / "empty.hdf5", "w"):
        pass
    with pytest.raises(DataError, match="empty.hdf5: missing group 'data'"):
        DemoFile(tmp_path / "empty.hdf5")


def test_num_samples_inconsistent_with_data(tmp_path):
    path = write(tmp_path / "demos.hdf5", [make_demo(4, 0), make_demo(5, 1)])
    with h5py.File(path, "a") as f:
        f["data/demo_1"].attrs["num_samples"] = np.int64(6)
    with DemoFile(path) as f:
        assert f.lengths().tolist() == [4, 6]
        message = r"demos.hdf5: demo_1: dataset 'actions' has 5 rows .* num_samples is 6"
        with pytest.raises(DataError, match=message):
            f[1]


# ---------------------------------------------------------------------------- ChunkDataset
@pytest.fixture
def two_files(tmp_path):
    first = write(tmp_path / "a.hdf5", [make_demo(6, 0), make_demo(3, 1)])
    info = PROBLEM_INFO | {"language_instruction": "open the drawer"}
    second = write_demo_file(
        tmp_path / "b.hdf5",
        [make_demo(5, 2)],
        problem_info=info,
        env_args=ENV_ARGS,
        image_convention="opengl",
    )
    return first, second


def test_chunks_pad_with_the_last_action(two_files):
    demo = make_demo(6, 0)
    dataset = ChunkDataset(two_files, horizon=4)
    assert len(dataset) == 6 + 3 + 5
    item = dataset[4]
    a = demo.actions.astype(np.float32)
    np.testing.assert_array_equal(item["actions"].numpy(), a[[4, 5, 5, 5]])
    assert item["action_mask"].tolist() == [True, True, False, False]
    assert item["actions"].dtype == torch.float32 and item["action_mask"].dtype == torch.bool
    np.testing.assert_array_equal(dataset[0]["action_mask"].numpy(), [True] * 4)
    proprio = proprio_of(demo)
    assert item["proprio"].shape == (8,) and item["proprio"].dtype == torch.float32
    np.testing.assert_array_equal(item["proprio"].numpy(), proprio[4].astype(np.float32))
    assert item["images"]["agentview"].dtype == torch.uint8
    np.testing.assert_array_equal(item["images"]["agentview"].numpy(), demo.obs["agentview_rgb"][4])
    np.testing.assert_array_equal(item["images"]["wrist"].numpy(), demo.obs["eye_in_hand_rgb"][4])


def test_items_map_to_demos_and_files(two_files):
    dataset = ChunkDataset(two_files, horizon=2, cameras=("wrist",))
    instructions = [dataset[i]["instruction"] for i in (0, 8, 9, 13)]
    assert instructions == [INSTRUCTION] * 2 + ["open the drawer"] * 2
    last = make_demo(5, 2)  # the opengl file: images come back upright all the same
    wrist = dataset[13]["images"]["wrist"].numpy()
    np.testing.assert_array_equal(wrist, last.obs["eye_in_hand_rgb"][4])
    actions = dataset[-1]["actions"].numpy()
    np.testing.assert_array_equal(actions[0], last.actions[4].astype(np.float32))
    assert set(dataset[6]["images"]) == {"wrist"}
    with pytest.raises(IndexError):
        dataset[14]


def test_skip_events_cuts_the_event_steps_out_of_every_demo(tmp_path):
    demo = make_demo(8, 0)
    demo.events = [
        {"kind": "hesitation", "step": 2, "steps": 3},  # steps 2, 3, 4
        {"kind": "detour", "step": 5, "steps": 2},
    ]
    path = write(tmp_path / "a.hdf5", [demo, make_demo(4, 1)])  # demo 1 pauses at steps 1-2
    dataset = ChunkDataset(path, horizon=3, skip_events=["hesitation"])
    kept = [0, 1, 5, 6, 7]
    assert len(dataset) == len(kept) + 2 and dataset.skipped_steps == 3 + 2
    item = dataset[1]  # step 1: its chunk jumps over the pause
    a = demo.actions.astype(np.float32)
    np.testing.assert_array_equal(item["actions"].numpy(), a[[1, 5, 6]])
    third = dataset[2]  # the first kept step after the pause: its own image and proprio
    np.testing.assert_array_equal(
        third["images"]["agentview"].numpy(), demo.obs["agentview_rgb"][5]
    )
    np.testing.assert_array_equal(third["proprio"].numpy(), proprio_of(demo)[5].astype(np.float32))
    np.testing.assert_array_equal(dataset[4]["actions"].numpy(), a[[7, 7, 7]])
    assert dataset[4]["action_mask"].tolist() == [True, False, False]
    np.testing.assert_array_equal(
        dataset.stats()["actions"]["min"],
        np.concatenate([a[kept], make_demo(4, 1).actions[[0, 3]]]).min(0).astype(np.float32),
    )
    whole = ChunkDataset(path, horizon=3, skip_events=["regrasp"])
    assert len(whole) == 8 + 4 and whole.skipped_steps == 0


def test_skip_events_refuses_a_demo_left_empty(tmp_path):
    demo = make_demo(3, 0)
    demo.events = [{"kind": "hesitation", "step": 0, "steps": 3}]
    path = write(tmp_path / "a.hdf5", [demo])
    with pytest.raises(DataError, match=r"a.hdf5: demo_0: skip_events removes every step"):
        ChunkDataset(path, horizon=2, skip_events=["hesitation"])


def test_bc_skip_events_accepts_exactly_the_kinds_experts_record():
    from ptrim import config
    from ptrim.experts.redundancy import EVENT_KINDS

    for kind in EVENT_KINDS:
        assert config.load("default", [f"bc.skip_events=[{kind}]"]).bc.skip_events == (kind,)
    with pytest.raises(config.ConfigError, match=r"bc.skip_events.0 = 'pause'.*'hesitation'"):
        config.load("default", ["bc.skip_events=[pause]"])


def test_image_size_resizes(two_files):
    small = ChunkDataset(two_files, horizon=2, image_size=8)[0]["images"]["agentview"]
    assert small.shape == (8, 8, 3)
    big = ChunkDataset(two_files, horizon=2, image_size=24)[0]["images"]["wrist"]
    assert big.shape == (24, 24, 3) and big.dtype == torch.uint8
    same = ChunkDataset(two_files, horizon=2, image_size=SIZE)[0]["images"]["agentview"]
    np.testing.assert_array_equal(same.numpy(), make_demo(6, 0).obs["agentview_rgb"][0])


def test_resize_area_averages_when_shrinking():
    from ptrim.data import _resize

    frame = np.zeros((4, 4, 3), dtype=np.uint8)
    frame[:2, :2] = 200
    out = _resize(frame, 2)
    assert out[0, 0].tolist() == [200, 200, 200] and out[1, 1].tolist() == [0, 0, 0]


def test_dataloader_batches(two_files):
    dataset = ChunkDataset(two_files, horizon=3)
    dataset[0]  # the parent opens a handle before the worker forks
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, collate_fn=collate, num_workers=1)
    batches = list(loader)
    assert [len(b["instruction"]) for b in batches] == [5, 5, 4]
    first = batches[0]
    assert first["images"]["agentview"].shape == (5, SIZE, SIZE, 3)
    assert first["images"]["wrist"].shape == (5, SIZE, SIZE, 3)
    assert first["proprio"].shape == (5, 8)
    assert first["actions"].shape == (5, 3, 7) and first["action_mask"].shape == (5, 3)
    assert batches[-1]["instruction"] == ["open the drawer"] * 4
    np.testing.assert_array_equal(first["actions"][1].numpy(), dataset[1]["actions"].numpy())


def test_stats_match_numpy(two_files):
    demos = [make_demo(6, 0), make_demo(3, 1), make_demo(5, 2)]
    actions = np.concatenate([d.actions for d in demos]).astype(np.float32)
    proprio = np.concatenate([proprio_of(d) for d in demos]).astype(np.float32)
    stats = ChunkDataset(two_files, horizon=4).stats()
    for name, x in (("actions", actions), ("proprio", proprio)):
        assert stats[name]["mean"].shape == (x.shape[1],)
        np.testing.assert_allclose(stats[name]["mean"], x.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[name]["std"], x.std(0), rtol=1e-5)
        np.testing.assert_array_equal(stats[name]["min"], x.min(0))
        np.testing.assert_array_equal(stats[name]["max"], x.max(0))


def test_images_are_stored_with_a_deterministic_compressor(tmp_path):
    """h5py's LZF starts from an uninitialised hash table, so identical frames could compress to
    different bytes in another process (the rebuilt LIBERO-Object demos differed by 94 bytes and
    DVC saw a new file); gzip is a pure function of the data."""
    path = write(tmp_path / "demo.hdf5", [make_demo(3, 0)])
    with h5py.File(path) as f:
        images = f["data/demo_0/obs/agentview_rgb"]
        assert images.compression == "gzip"
        assert images.chunks == (1, *images.shape[1:])
