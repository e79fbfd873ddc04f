"""Content digests of HDF5 files: what a file holds, not how its bytes are laid out.

    python -m ptrim.digest data/demos/libero_object [more files or folders ...]

Two recordings of the same demonstrations are equal in content but not always in bytes: h5py's
LZF filter leaves its hash table uninitialised (liblzf's ``INIT_HTAB 0``), so the compressed
bytes of an image chunk can depend on what the process did before, and a resumed recording
leaves the space of the demo it dropped. DVC hashes bytes, so ``dvc.lock`` changed on every
rebuild of ``data/demos/*`` while demos were LZF-compressed (gzip since ``328340b``), and still
changes after a resumed recording or on another kind of CPU; this digest tells whether the
*contents* did.

The digest covers every group's and dataset's name, every attribute (name and value) and every
dataset's dtype, shape and decompressed values, visited in sorted order; it ignores chunking,
compression, file-space layout and HDF5's timestamps. Other files in a folder (JSON) are
digested by their bytes, with a JSON file's keys sorted first (a result table written in
completion order is the same table).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np

HDF5_SUFFIXES = (".hdf5", ".h5")
CHUNK_ROWS = 64  # rows of a dataset hashed at a time (bounded memory for image stacks)


def _update_value(h: hashlib._Hash, value) -> None:
    if isinstance(value, bytes):
        h.update(b"b" + value)
    elif isinstance(value, str):
        h.update(b"s" + value.encode())
    else:
        array = np.asarray(value)
        if array.dtype.kind == "O":  # variable-length strings
            for item in array.ravel():
                _update_value(h, item)
            return
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).tobytes())


def _update_attrs(h: hashlib._Hash, obj) -> None:
    for name in sorted(obj.attrs):
        h.update(b"@" + name.encode())
        _update_value(h, obj.attrs[name])


def _update_dataset(h: hashlib._Hash, ds: h5py.Dataset) -> None:
    h.update(f"{ds.dtype.str}{ds.shape}".encode())
    if ds.shape == ():
        _update_value(h, ds[()])
        return
    for start in range(0, ds.shape[0], CHUNK_ROWS):
        _update_value(h, ds[start : start + CHUNK_ROWS])


def hdf5_digest(path: str | Path) -> str:
    """SHA-256 of an HDF5 file's contents (names, attributes, dtypes, shapes, values)."""
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        _update_attrs(h, f)
        names: list[str] = []
        f.visit(names.append)
        for name in sorted(names):
            obj = f[name]
            h.update(b"/" + name.encode())
            _update_attrs(h, obj)
            if isinstance(obj, h5py.Dataset):
                _update_dataset(h, obj)
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """An HDF5 file's content digest; a JSON file's with sorted keys; else its bytes'."""
    path = Path(path)
    if path.suffix in HDF5_SUFFIXES:
        return hdf5_digest(path)
    data = path.read_bytes()
    if path.suffix == ".json":
        data = json.dumps(json.loads(data), sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return out


def digests(paths: Iterable[str | Path]) -> dict[str, str]:
    """Each file under ``paths`` (folders walked in sorted order) with its content digest."""
    return {str(p): file_digest(p) for p in _files(paths)}


def combined(per_file: dict[str, str], root: str | Path | None = None) -> str:
    """One digest over ``per_file``, keyed by each path relative to ``root`` (so that a
    folder's digest does not depend on where the checkout lives)."""
    h = hashlib.sha256()
    for path, digest in sorted(per_file.items()):
        name = str(Path(path).relative_to(root)) if root else Path(path).name
        h.update(f"{name}\0{digest}\n".encode())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    from tqdm.auto import tqdm

    parser = argparse.ArgumentParser(prog="python -m ptrim.digest", description=__doc__)
    parser.add_argument("paths", nargs="+", help="HDF5/JSON files or folders of them")
    args = parser.parse_args(argv)
    for target in args.paths:
        files = _files([target])
        per_file = {str(p): file_digest(p) for p in tqdm(files, desc=target, leave=False)}
        for path, digest in per_file.items():
            print(f"{digest[:16]}  {path}")
        root = target if Path(target).is_dir() else None
        print(f"{combined(per_file, root)[:16]}  {target} (all {len(files)} files)")


if __name__ == "__main__":
    main()
