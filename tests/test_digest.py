"""Content digests: equal for files that hold the same things laid out differently, different
for any changed name, attribute or value."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from ptrim import digest
from ptrim.data import DemoWriter
from tests.test_data import ENV_ARGS, PROBLEM_INFO, make_demo, write


def _plain_file(path, *, compression=None, value: float = 1.0, attr: str = "a") -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        g = f.create_group("data")
        g.attrs["info"] = attr
        g.create_dataset(
            "frames", data=rng.integers(0, 256, (70, 8, 8, 3), dtype=np.uint8),
            chunks=(1, 8, 8, 3), compression=compression,
        )  # fmt: skip
        g.create_dataset("x", data=np.array([value, 2.0, 3.0]))
        g.create_dataset("scalar", data=5)


def test_same_contents_under_other_compression_have_one_digest(tmp_path):
    _plain_file(tmp_path / "lzf.hdf5", compression="lzf")
    _plain_file(tmp_path / "gzip.hdf5", compression="gzip")
    _plain_file(tmp_path / "raw.hdf5")
    assert (tmp_path / "lzf.hdf5").read_bytes() != (tmp_path / "gzip.hdf5").read_bytes()
    digests = {digest.hdf5_digest(tmp_path / n) for n in ("lzf.hdf5", "gzip.hdf5", "raw.hdf5")}
    assert len(digests) == 1


@pytest.mark.parametrize("change", [{"value": 1.5}, {"attr": "b"}])
def test_a_changed_value_or_attribute_changes_the_digest(tmp_path, change):
    _plain_file(tmp_path / "a.hdf5")
    _plain_file(tmp_path / "b.hdf5", **change)
    assert digest.hdf5_digest(tmp_path / "a.hdf5") != digest.hdf5_digest(tmp_path / "b.hdf5")


def test_a_resumed_recording_differs_in_bytes_not_in_content(tmp_path):
    demos = [make_demo(4 + i, i) for i in range(3)]
    write(tmp_path / "straight.hdf5", demos)
    resumed = tmp_path / "resumed.hdf5"
    with DemoWriter(resumed, problem_info=PROBLEM_INFO, env_args=ENV_ARGS, append=True) as w:
        w.add(demos[0])
        w.add(demos[1])
    with h5py.File(resumed, "a") as f:  # killed mid-demo: the resumed writer drops this group
        f.create_group("data/demo_2").create_dataset("actions", data=np.zeros((50, 7)))
    with DemoWriter(resumed, problem_info=PROBLEM_INFO, append=True) as w:
        w.add(demos[2])
    assert resumed.read_bytes() != (tmp_path / "straight.hdf5").read_bytes()
    assert digest.hdf5_digest(resumed) == digest.hdf5_digest(tmp_path / "straight.hdf5")
    other = tmp_path / "other.hdf5"
    write(other, [demos[0], demos[1], make_demo(6, 7)])
    assert digest.hdf5_digest(other) != digest.hdf5_digest(resumed)


def test_folder_digest_ignores_json_key_order_and_checkout_location(tmp_path, capsys):
    for root, order in ((tmp_path / "one", ["b", "a"]), (tmp_path / "two", ["a", "b"])):
        root.mkdir()
        _plain_file(root / "t.hdf5")
        (root / "table.json").write_text(json.dumps({k: {"n": 1} for k in order}))
    one, two = digest.digests([tmp_path / "one"]), digest.digests([tmp_path / "two"])
    assert digest.combined(one, tmp_path / "one") == digest.combined(two, tmp_path / "two")
    (tmp_path / "two" / "table.json").write_text(json.dumps({"a": {"n": 2}, "b": {"n": 1}}))
    two = digest.digests([tmp_path / "two"])
    assert digest.combined(one, tmp_path / "one") != digest.combined(two, tmp_path / "two")
    digest.main([str(tmp_path / "one")])
    out = capsys.readouterr().out
    assert "(all 2 files)" in out and digest.combined(one, tmp_path / "one")[:16] in out


def test_missing_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        digest.digests([tmp_path / "nowhere"])
