"""Demonstration files in the LIBERO/robomimic HDF5 layout: write, read, and serve for training.

Our scripted experts write this layout so that a real LIBERO demonstration file loads through
the same reader::

    data/           attrs: env_args, problem_info (JSON strings), macros_image_convention,
                           num_demos, total (+ any others, e.g. bddl_file_name: ignored)
    data/demo_<i>/  attrs: num_samples (written last: marks the demo complete),
                           init_state (float64), events, meta (JSON; ours only)
        actions [T, 7], states [T, S], robot_states [T, 9], rewards [T], dones [T]
        obs/agentview_rgb, obs/eye_in_hand_rgb [T, H, W, 3] uint8
        obs/ee_states [T, 6], obs/ee_pos [T, 3], obs/ee_ori [T, 3] (axis-angle),
        obs/gripper_states [T, 2], obs/joint_states [T, 7]

Image orientation
-----------------
In memory (:class:`Demo`, :meth:`DemoFile.read`, :class:`ChunkDataset`) images are always
**upright** (rows top-down), as :class:`ptrim.envs.libero.LiberoEnv` returns them. On disk,
``macros_image_convention`` says how they are stored: ``"opengl"`` (rows bottom-up, what LIBERO
writes, and what a file without the attribute is assumed to hold) or ``"opencv"`` (upright, what
:class:`DemoWriter` writes by default). Image datasets are the ``obs/`` datasets with 3 or more
dimensions; the reader flips their rows when the file says ``"opengl"``.

Attributes are decoded whether stored as ``str``, ``bytes`` or numpy scalars. Every problem with
a file raises :class:`DataError`, naming the file and, where there is one, the demo.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
import torch.nn.functional as F

CONVENTIONS = ("opengl", "opencv")
DEFAULT_CONVENTION = "opengl"  # LIBERO's; assumed when a file does not say
DEMO_DATASETS = ("actions", "states", "robot_states", "rewards", "dones")
CAMERA_KEYS = {"agentview": "obs/agentview_rgb", "wrist": "obs/eye_in_hand_rgb"}
PROPRIO_KEYS = {"obs/ee_pos": 3, "obs/ee_ori": 3, "obs/gripper_states": 2}  # name -> width
# other benchmarks' demos store what their adapter's ``proprio()`` returns, as it is
PROPRIO_KEY = "obs/proprio"
IMAGE_GZIP_LEVEL = 1  # demo images: gzip is deterministic (see DemoWriter._write_array)
_DEMO_KEY = re.compile(r"demo_(\d+)")

PathLike = str | os.PathLike


class DataError(ValueError):
    """A demonstration file is missing, unreadable, or not in the expected layout."""


@dataclass(eq=False)
class Demo:
    """One demonstration of ``T`` steps; images in ``obs`` are upright (rows top-down).

    ``obs`` maps the names under ``obs/`` (``agentview_rgb``, ``ee_pos``, ...) to ``[T, ...]``
    arrays. ``events`` lists the redundancy events the expert injected, e.g.
    ``{"kind": "hesitation", "step": 41, "steps": 6}`` (the event covers steps
    ``step .. step + steps - 1``); ``meta`` holds per-demo facts such as
    ``seed``, ``redundancy``, ``expert``. Both are empty for real LIBERO demos.
    """

    actions: np.ndarray  # [T, 7]
    states: np.ndarray  # [T, S] float64, flattened MuJoCo states
    robot_states: np.ndarray  # [T, 9]
    rewards: np.ndarray  # [T]
    dones: np.ndarray  # [T]
    obs: dict[str, np.ndarray]
    init_state: np.ndarray  # [S] float64
    events: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return len(self.actions)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every per-step array, keyed by its dataset path inside the demo group."""
        top = {name: np.asarray(getattr(self, name)) for name in DEMO_DATASETS}
        return top | {f"obs/{name}": np.asarray(a) for name, a in self.obs.items()}


# ---------------------------------------------------------------------------- attribute helpers
def _unwrap(value: Any) -> Any:
    """A one-element numpy array (how some writers store scalars) as its element."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(()).item()
    return value


def _as_str(value: Any) -> str | None:
    """``str``/``bytes``/numpy string attribute as ``str``; None for anything else."""
    value = _unwrap(value)
    if isinstance(value, bytes):  # includes np.bytes_
        return value.decode("utf-8")
    if isinstance(value, str):  # includes np.str_
        return str(value)
    return None


def _as_int(value: Any) -> int | None:
    """Python/numpy integer attribute as ``int``; None for anything else."""
    value = _unwrap(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        return int(value)
    return None


def _plain(value: Any) -> Any:
    """An attribute value as a plain Python value (strings decoded, numpy scalars unwrapped)."""
    text = _as_str(value)
    if text is not None:
        return text
    value = _unwrap(value)
    return value.item() if isinstance(value, np.generic) else value


def _str_attr(attrs: h5py.AttributeManager, name: str, where: str) -> str:
    if name not in attrs:
        raise DataError(f"{where}: missing attribute '{name}'")
    text = _as_str(attrs[name])
    if text is None:
        raise DataError(f"{where}: attribute '{name}' is not a string: {attrs[name]!r}")
    return text


def _int_attr(attrs: h5py.AttributeManager, name: str, where: str) -> int:
    if name not in attrs:
        raise DataError(f"{where}: missing attribute '{name}'")
    number = _as_int(attrs[name])
    if number is None:
        raise DataError(f"{where}: attribute '{name}' is not an integer: {attrs[name]!r}")
    return number


def _json_attr(attrs: h5py.AttributeManager, name: str, where: str) -> Any:
    text = _str_attr(attrs, name, where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: attribute '{name}' is not valid JSON: {exc}") from exc


def _convention(value: Any, where: str) -> str:
    text = _as_str(value)
    convention = text.strip().lower() if text is not None else None
    if convention not in CONVENTIONS:
        raise DataError(f"{where}: image convention {value!r} is not one of {CONVENTIONS}")
    return convention


def _json_default(obj: Any) -> Any:
    """Let ``json.dumps`` take numpy scalars and arrays (an event's ``step`` is often np.int64)."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default)


def _demo_index(key: str) -> int | None:
    match = _DEMO_KEY.fullmatch(key)
    return int(match.group(1)) if match else None


def _is_image(name: str, ndim: int) -> bool:
    return name.startswith("obs/") and ndim >= 3


# ---------------------------------------------------------------------------- writing
def _check_demo(demo: Demo) -> None:
    """Raise ValueError unless every per-step array has ``T >= 1`` rows and images are uint8."""
    actions = np.asarray(demo.actions)
    if actions.ndim != 2 or len(actions) == 0:
        raise ValueError(f"demo actions must be [T, A] with T >= 1, got shape {actions.shape}")
    for name, array in demo.arrays().items():
        if array.ndim == 0 or len(array) != len(actions):
            raise ValueError(
                f"demo '{name}' has shape {array.shape}, expected {len(actions)} rows (as actions)"
            )
        if _is_image(name, array.ndim) and array.dtype != np.uint8:
            raise ValueError(f"demo image '{name}' must be uint8, got {array.dtype}")
    if np.asarray(demo.init_state).ndim != 1:
        raise ValueError(f"demo init_state must be a vector, got {np.shape(demo.init_state)}")


def _check_new_file_metadata(path: Path, problem_info: Any, env_args: Any) -> None:
    """Raise ValueError unless a new file gets problem_info (with an instruction) and env_args."""
    if not isinstance(problem_info, dict) or not isinstance(env_args, dict):
        raise ValueError(f"{path}: a new file needs problem_info and env_args dicts")
    if not isinstance(problem_info.get("language_instruction"), str):
        raise ValueError(f"{path}: problem_info needs a 'language_instruction' string")


class DemoWriter:
    """Write demonstrations into one HDF5 file, one at a time, as ``demo_0``, ``demo_1``, ...

    ``append=False`` creates the file (replacing an existing one); ``append=True`` continues an
    existing file, or creates it. Resuming deletes the demo groups a crash left incomplete (no
    ``num_samples``, the attribute written last) and numbers new demos after the last complete
    one. The metadata arguments are required for a new file; when resuming, those given must
    equal what the file holds (so one file never mixes tasks or image conventions).

    ``num_demos``/``total`` are updated and the file flushed after every demo, so a process
    killed between demos leaves a complete, readable file. HDF5 is not journaled: a kill
    *during* a write may leave the file unreadable (:class:`DemoFile` then raises DataError).

    Images (``obs/`` arrays with 3+ dims, given upright) are stored in ``image_convention``
    (default ``"opencv"``: as given; ``"opengl"``: rows flipped, as LIBERO stores them), one
    gzip-compressed chunk per frame (deterministic bytes, unlike h5py's LZF).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        problem_info: dict[str, Any] | None = None,
        env_args: dict[str, Any] | None = None,
        image_convention: str | None = None,
        attrs: dict[str, str | int | float] | None = None,
        append: bool = False,
    ) -> None:
        self.path = Path(path)
        resume = append and self.path.exists()
        if not resume:  # check before "w" truncates anything
            _check_new_file_metadata(self.path, problem_info, env_args)
        try:
            self._file = h5py.File(self.path, "a" if resume else "w")
        except OSError as exc:
            raise DataError(f"{self.path}: cannot open for writing: {exc}") from exc
        try:
            given = {"problem_info": problem_info, "env_args": env_args, **(attrs or {})}
            if image_convention is not None:
                given["macros_image_convention"] = _convention(image_convention, str(self.path))
            if resume:
                self._resume(given)
            else:
                self._create(given)
        except BaseException:
            self._file.close()
            raise

    def _create(self, given: dict[str, Any]) -> None:
        problem_info, env_args = given.pop("problem_info"), given.pop("env_args")
        given.setdefault("macros_image_convention", "opencv")
        self._data = self._file.create_group("data")
        self._data.attrs["problem_info"] = _to_json(problem_info)
        self._data.attrs["env_args"] = _to_json(env_args)
        for name, value in given.items():
            self._data.attrs[name] = value
        self.image_convention: str = given["macros_image_convention"]
        self._next, self.num_demos, self.total = 0, 0, 0
        self._write_totals()

    def _resume(self, given: dict[str, Any]) -> None:
        where = str(self.path)
        data = self._file.get("data")
        if not isinstance(data, h5py.Group):
            raise DataError(f"{where}: missing group 'data'; cannot append")
        self._data = data
        stored_convention = data.attrs.get("macros_image_convention", DEFAULT_CONVENTION)
        self.image_convention = _convention(stored_convention, where)
        for name, value in given.items():
            if name == "macros_image_convention":
                stored = self.image_convention
            elif name in ("problem_info", "env_args"):
                stored = _json_attr(data.attrs, name, where)
                value = None if value is None else json.loads(_to_json(value))
            else:
                stored = _plain(data.attrs[name]) if name in data.attrs else None
            if value is not None and stored != value:
                raise DataError(
                    f"{where}: cannot append: file has {name}={stored!r}, not {value!r}"
                )
        complete = []
        for key in [k for k in data if _demo_index(k) is not None]:
            if "num_samples" in data[key].attrs:
                complete.append(key)
            else:
                del data[key]  # left incomplete by a crash
        self._next = max((_demo_index(k) + 1 for k in complete), default=0)
        self.num_demos = len(complete)
        self.total = sum(_int_attr(data[k].attrs, "num_samples", f"{where}: {k}") for k in complete)
        self._write_totals()
        self._file.flush()

    def metas(self) -> list[dict[str, Any]]:
        """The ``meta`` attribute of every complete demo in the file, in order (what a resumed
        recording needs to know about the demos it keeps)."""
        keys = sorted((k for k in self._data if _demo_index(k) is not None), key=_demo_index)
        return [
            _json_attr(self._data[k].attrs, "meta", f"{self.path}: {k}")
            if "meta" in self._data[k].attrs
            else {}
            for k in keys
            if "num_samples" in self._data[k].attrs
        ]

    def _write_totals(self) -> None:
        self._data.attrs["num_demos"] = self.num_demos
        self._data.attrs["total"] = self.total

    def add(self, demo: Demo) -> str:
        """Append one demonstration; returns its group name (``demo_<i>``)."""
        if not self._file:
            raise ValueError(f"{self.path}: writer is closed")
        _check_demo(demo)
        events, meta = _to_json(demo.events), _to_json(demo.meta)
        key = f"demo_{self._next}"
        group = self._data.create_group(key)
        try:
            for name, array in demo.arrays().items():
                self._write_array(group, name, array)
            group.attrs["init_state"] = np.asarray(demo.init_state, dtype=np.float64)
            group.attrs["events"] = events
            group.attrs["meta"] = meta
            group.attrs["num_samples"] = demo.num_samples  # last: marks the demo complete
        except BaseException:
            del self._data[key]
            raise
        self._next += 1
        self.num_demos += 1
        self.total += demo.num_samples
        self._write_totals()
        self._file.flush()
        return key

    def _write_array(self, group: h5py.Group, name: str, array: np.ndarray) -> None:
        if not _is_image(name, array.ndim):
            group.create_dataset(name, data=array)
            return
        if self.image_convention == "opengl":
            array = array[:, ::-1]
        chunks = (1, *array.shape[1:])
        # gzip, not lzf: h5py's LZF leaves its hash table uninitialised, so the same frames can
        # compress to different bytes from run to run, and DVC would see a changed demo file
        group.create_dataset(
            name, data=array, chunks=chunks, compression="gzip", compression_opts=IMAGE_GZIP_LEVEL
        )

    def close(self) -> None:
        """Write ``num_demos``/``total`` and close the file (idempotent)."""
        if self._file:
            self._write_totals()
            self._file.close()

    def __enter__(self) -> DemoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_demo_file(
    path: PathLike,
    demos: Iterable[Demo],
    *,
    problem_info: dict[str, Any],
    env_args: dict[str, Any],
    image_convention: str = "opencv",
    attrs: dict[str, str | int | float] | None = None,
) -> Path:
    """Write ``demos`` into a new file at ``path`` (replacing it); returns the path."""
    with DemoWriter(
        path,
        problem_info=problem_info,
        env_args=env_args,
        image_convention=image_convention,
        attrs=attrs,
    ) as writer:
        for demo in demos:
            writer.add(demo)
    return writer.path


# ---------------------------------------------------------------------------- reading
class DemoFile:
    """Read-only view of one demonstration file (ours or a real LIBERO one).

    Images come back upright whatever the file's ``image_convention`` (``"opengl"`` when the
    file does not say: LIBERO's default). Arrays are read on request; ``lengths()`` reads only
    attributes. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: PathLike, *, locking: bool | None = None) -> None:
        """``locking=False`` reads a file another process is still writing (HDF5 would refuse
        otherwise); it sees the demos completed up to the writer's last flush."""
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file")
        try:
            self._file = h5py.File(self.path, "r", locking=locking)
        except OSError as exc:
            raise DataError(
                f"{self.path}: unreadable HDF5 file (truncated or corrupt?): {exc}"
            ) from exc
        try:
            self._open()
        except BaseException:
            self._file.close()
            raise

    def _open(self) -> None:
        where = str(self.path)
        data = self._file.get("data")
        if not isinstance(data, h5py.Group):
            raise DataError(f"{where}: missing group 'data' (not a LIBERO/robomimic demo file)")
        self._data = data
        self.problem_info: dict[str, Any] = _json_attr(data.attrs, "problem_info", where)
        self.env_args: dict[str, Any] = _json_attr(data.attrs, "env_args", where)
        instruction = self.problem_info.get("language_instruction")
        if not isinstance(instruction, str):
            raise DataError(f"{where}: problem_info has no 'language_instruction' string")
        self.instruction: str = instruction
        stored = data.attrs.get("macros_image_convention", DEFAULT_CONVENTION)
        self.image_convention: str = _convention(stored, where)
        self.demo_keys: list[str] = sorted(
            (k for k in data if _demo_index(k) is not None), key=_demo_index
        )
        if "num_demos" in data.attrs:
            declared = _int_attr(data.attrs, "num_demos", where)
            if declared != len(self.demo_keys):
                raise DataError(
                    f"{where}: num_demos is {declared} but the file has {len(self.demo_keys)} "
                    "demo groups (interrupted write? DemoWriter(..., append=True) repairs it)"
                )
        self._lengths: np.ndarray | None = None

    @property
    def num_demos(self) -> int:
        return len(self.demo_keys)

    @property
    def total(self) -> int:
        """Number of steps over all demos."""
        return int(self.lengths().sum())

    @property
    def attrs(self) -> dict[str, Any]:
        """All attributes of ``data`` as plain Python values (strings decoded)."""
        return {name: _plain(value) for name, value in self._data.attrs.items()}

    def __len__(self) -> int:
        return len(self.demo_keys)

    def lengths(self) -> np.ndarray:
        """``num_samples`` of every demo, in ``demo_keys`` order (attributes only)."""
        if self._lengths is None:
            self._lengths = np.array(
                [
                    _int_attr(self._data[k].attrs, "num_samples", f"{self.path}: {k}")
                    for k in self.demo_keys
                ],
                dtype=np.int64,
            )
        return self._lengths

    def _key(self, index: int) -> str:
        n = len(self.demo_keys)
        if not -n <= index < n:
            raise IndexError(f"{self.path}: demo index {index} out of range for {n} demos")
        return self.demo_keys[index]

    def _dataset(self, index: int, name: str) -> h5py.Dataset:
        """Dataset ``name`` of demo ``index``, checked to have ``num_samples`` rows."""
        key = self._key(index)
        try:
            dataset = self._data[key].get(name)
        except (OSError, KeyError) as exc:
            raise DataError(f"{self.path}: {key}: cannot open '{name}': {exc}") from exc
        if not isinstance(dataset, h5py.Dataset):
            raise DataError(f"{self.path}: {key}: missing dataset '{name}'")
        expected = int(self.lengths()[index])
        if dataset.shape[:1] != (expected,):
            rows = dataset.shape[0] if dataset.shape else "no"
            raise DataError(
                f"{self.path}: {key}: dataset '{name}' has {rows} rows (shape {dataset.shape}) "
                f"but num_samples is {expected}"
            )
        return dataset

    def has(self, index: int, name: str) -> bool:
        """Whether demo ``index`` holds a dataset ``name``."""
        return isinstance(self._data[self._key(index)].get(name), h5py.Dataset)

    def check(self, index: int, names: Iterable[str]) -> None:
        """Raise DataError unless demo ``index`` has every dataset in ``names`` at full length."""
        for name in names:
            self._dataset(index, name)

    def read(self, index: int, name: str, t: int | None = None) -> np.ndarray:
        """Dataset ``name`` (e.g. ``"actions"``, ``"obs/agentview_rgb"``) of demo ``index``:
        all rows, or only row ``t``. Images come back upright."""
        dataset = self._dataset(index, name)
        try:
            array = dataset[()] if t is None else dataset[t]
        except OSError as exc:
            raise DataError(
                f"{self.path}: {self._key(index)}: cannot read '{name}': {exc}"
            ) from exc
        if _is_image(name, dataset.ndim) and self.image_convention == "opengl":
            array = array[:, ::-1] if t is None else array[::-1]
        return np.ascontiguousarray(array)

    def events(self, index: int) -> list[dict[str, Any]]:
        """The redundancy events recorded for demo ``index`` (attributes only; [] if none)."""
        attrs, where = self._data[self._key(index)].attrs, f"{self.path}: {self._key(index)}"
        return _json_attr(attrs, "events", where) if "events" in attrs else []

    def meta(self, index: int) -> dict[str, Any]:
        """The per-demo facts of demo ``index`` (attributes only; {} if none)."""
        attrs, where = self._data[self._key(index)].attrs, f"{self.path}: {self._key(index)}"
        return _json_attr(attrs, "meta", where) if "meta" in attrs else {}

    def __getitem__(self, index: int) -> Demo:
        """Demo ``index`` with every array loaded, images upright.

        The five top-level datasets are required; ``obs`` holds whatever datasets ``obs/`` has
        (:meth:`check` or :class:`ChunkDataset` demand specific ones). ``init_state`` falls back
        to ``states[0]`` when the attribute is absent (LIBERO sets it to exactly that).
        """
        key = self._key(index)
        where = f"{self.path}: {key}"
        group = self._data[key]
        arrays = {name: self.read(index, name) for name in DEMO_DATASETS}
        obs_group = group.get("obs")
        if not isinstance(obs_group, h5py.Group):
            raise DataError(f"{where}: missing group 'obs'")
        obs = {
            name: self.read(index, f"obs/{name}")
            for name, item in obs_group.items()
            if isinstance(item, h5py.Dataset)
        }
        attrs = group.attrs
        init_state = attrs["init_state"] if "init_state" in attrs else arrays["states"][0]
        return Demo(
            **arrays,
            obs=obs,
            init_state=np.asarray(init_state, dtype=np.float64),
            events=self.events(index),
            meta=self.meta(index),
        )

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> DemoFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DemoFile({str(self.path)!r}, {self.num_demos} demos, {self.instruction!r})"


# ---------------------------------------------------------------------------- training data
def kept_steps(steps: int, events: Sequence[dict[str, Any]], skip: Iterable[str]) -> np.ndarray:
    """The step indices of a ``steps``-long demo outside every event whose kind is in ``skip``
    (an event covers ``step .. step + steps - 1``)."""
    keep = np.ones(steps, dtype=bool)
    skip = set(skip)
    for event in events:
        if event.get("kind") in skip:
            start = max(int(event["step"]), 0)
            keep[start : start + int(event["steps"])] = False
    return np.flatnonzero(keep)


def _action_chunk(actions: np.ndarray, t: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Actions ``t .. t+horizon-1``, the last action repeated past the end, and the real-mask."""
    steps = np.arange(t, t + horizon)
    return actions[np.minimum(steps, len(actions) - 1)], steps < len(actions)


def _resize(frame: np.ndarray, size: int) -> torch.Tensor:
    """uint8 ``[H, W, C]`` frame to ``[size, size, C]``: area averaging when shrinking both
    sides, bilinear otherwise; rounded back to uint8."""
    height, width = frame.shape[:2]
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
    if size <= height and size <= width:
        y = F.interpolate(x, size=(size, size), mode="area")
    else:
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8)


class ChunkDataset(torch.utils.data.Dataset):
    """Behaviour-cloning samples: one per timestep ``t`` of every demo in ``paths``::

        {"images": {camera: uint8 [S, S, 3]},  # upright, channels-last, like env observations
         "proprio": float32 [D],               # LIBERO: ee_pos(3), ee_ori(3) axis-angle,
                                               # gripper(2); others: obs/proprio as recorded
         "instruction": str,
         "actions": float32 [horizon, A],      # a_t .. a_{t+horizon-1}, the last action
                                               # repeated past the demo's end
         "action_mask": bool [horizon]}        # True for real actions, False for padding

    Cameras ``agentview``/``wrist`` are ``obs/agentview_rgb``/``obs/eye_in_hand_rgb``. Actions and
    proprio of all demos are loaded at construction (small; :meth:`stats` uses them); images
    are read per item through HDF5 handles opened lazily by the process that asks, so each
    DataLoader worker opens its own. With ``image_size``, frames of another size are resized to
    ``image_size``² (:func:`torch.nn.functional.interpolate`: ``area`` when shrinking both
    sides, ``bilinear`` otherwise).

    ``skip_events`` names redundancy event kinds (e.g. ``("hesitation",)``) whose steps are cut
    out of every demo, as if the expert had never made them: samples start only at kept steps
    and chunks run over the kept steps. A memoryless policy cannot learn *when* a pause ends
    from one frame, so pauses in its data become states it never leaves (OpenVLA removed the
    no-op actions of LIBERO's demonstrations for this reason). Demos without recorded events
    (real LIBERO files) are used whole.
    """

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        *,
        horizon: int,
        cameras: Sequence[str] = ("agentview", "wrist"),
        image_size: int | None = None,
        skip_events: Sequence[str] = (),
    ) -> None:
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        unknown = [c for c in cameras if c not in CAMERA_KEYS]
        if unknown or not cameras:
            raise ValueError(f"unknown cameras {unknown}; valid: {list(CAMERA_KEYS)}")
        if image_size is not None and image_size < 1:
            raise ValueError(f"image_size must be >= 1, got {image_size}")
        single = isinstance(paths, str | os.PathLike)
        self.paths = [Path(p) for p in ([paths] if single else paths)]
        self.horizon, self.cameras, self.image_size = int(horizon), tuple(cameras), image_size
        self.skip_events = frozenset(skip_events)
        self.skipped_steps = 0  # steps cut out by ``skip_events``
        self._instructions: list[str] = []
        self._steps: list[np.ndarray] = []  # per demo: the kept step indices
        self._demos: list[tuple[int, int]] = []  # (file index, demo index)
        self._actions: list[np.ndarray] = []
        self._proprio: list[np.ndarray] = []
        for file_index, path in enumerate(self.paths):
            with DemoFile(path) as demo_file:
                self._load(file_index, demo_file)
        if not self._demos:
            raise ValueError(f"no demonstrations in {[str(p) for p in self.paths]}")
        self._ends = np.cumsum([len(a) for a in self._actions])
        self._handles: dict[int, DemoFile] = {}
        self._pid = os.getpid()

    def _load(self, file_index: int, demo_file: DemoFile) -> None:
        """Check every demo of one file and keep its actions and proprio."""
        self._instructions.append(demo_file.instruction)
        image_keys = [CAMERA_KEYS[c] for c in self.cameras]
        for index, key in enumerate(demo_file.demo_keys):
            demo_file.check(index, image_keys)
            proprio = self._read_proprio(demo_file, index)
            actions = demo_file.read(index, "actions").astype(np.float32)
            kept = kept_steps(len(actions), demo_file.events(index), self.skip_events)
            if not len(kept):
                raise DataError(f"{demo_file.path}: {key}: skip_events removes every step")
            self.skipped_steps += len(actions) - len(kept)
            self._steps.append(kept)
            self._proprio.append(proprio[kept])
            self._actions.append(actions[kept])
            self._demos.append((file_index, index))

    @staticmethod
    def _read_proprio(demo_file: DemoFile, index: int) -> np.ndarray:
        """``obs/proprio`` if the demo has it (Meta-World, ManiSkill), else LIBERO's parts."""
        if demo_file.has(index, PROPRIO_KEY):
            widths = {PROPRIO_KEY: None}
        else:
            widths = PROPRIO_KEYS
        parts = []
        for name, width in widths.items():
            part = demo_file.read(index, name)
            if part.ndim != 2 or (width is not None and part.shape[1] != width):
                want = f"[T, {width}]" if width is not None else "[T, D]"
                raise DataError(
                    f"{demo_file.path}: {demo_file.demo_keys[index]}: dataset '{name}' has "
                    f"shape {part.shape}, expected {want}"
                )
            parts.append(part)
        return np.concatenate(parts, axis=1).astype(np.float32)

    @property
    def action_dim(self) -> int:
        return int(self._actions[0].shape[1])

    @property
    def proprio_dim(self) -> int:
        return int(self._proprio[0].shape[1])

    def __len__(self) -> int:
        return int(self._ends[-1])

    def _file(self, file_index: int) -> DemoFile:
        """This process's handle on file ``file_index`` (a forked worker drops its parent's)."""
        if self._pid != os.getpid():
            self._handles, self._pid = {}, os.getpid()
        if file_index not in self._handles:
            self._handles[file_index] = DemoFile(self.paths[file_index])
        return self._handles[file_index]

    def _frame(self, demo_file: DemoFile, index: int, name: str, t: int) -> torch.Tensor:
        frame = demo_file.read(index, name, t)
        if self.image_size is not None and frame.shape[:2] != (self.image_size,) * 2:
            return _resize(frame, self.image_size)
        return torch.from_numpy(frame)

    def __getitem__(self, item: int) -> dict[str, Any]:
        n = len(self)
        if not -n <= item < n:
            raise IndexError(f"sample {item} out of range for {n} samples")
        item %= n
        demo = int(np.searchsorted(self._ends, item, side="right"))
        t = item - int(self._ends[demo]) + len(self._actions[demo])
        file_index, index = self._demos[demo]
        demo_file = self._file(file_index)
        actions, mask = _action_chunk(self._actions[demo], t, self.horizon)
        step = int(self._steps[demo][t])
        return {
            "images": {
                cam: self._frame(demo_file, index, CAMERA_KEYS[cam], step) for cam in self.cameras
            },
            "proprio": torch.from_numpy(self._proprio[demo][t].copy()),
            "instruction": self._instructions[file_index],
            "actions": torch.from_numpy(actions),
            "action_mask": torch.from_numpy(mask),
        }

    def demo_samples(self) -> list[tuple[int, int, range]]:
        """``(file index, demo index within its file, sample indices)`` of every demo, in
        sample order (e.g. to train on the first N demos of each file)."""
        starts = [0, *self._ends[:-1].tolist()]
        return [
            (file_index, index, range(start, int(end)))
            for (file_index, index), start, end in zip(self._demos, starts, self._ends, strict=True)
        ]

    def stats(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-dimension ``mean``/``std`` (population)/``min``/``max`` (float32) of ``actions``
        and ``proprio`` over all samples (every real step once; padding excluded)."""
        out = {}
        for name, arrays in (("actions", self._actions), ("proprio", self._proprio)):
            x = np.concatenate(arrays).astype(np.float64)
            moments = {"mean": x.mean(0), "std": x.std(0), "min": x.min(0), "max": x.max(0)}
            out[name] = {k: v.astype(np.float32) for k, v in moments.items()}
        return out

    def close(self) -> None:
        """Close this process's file handles (reopened on the next item)."""
        for demo_file in self._handles.values():
            demo_file.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (spawned DataLoader workers) without the open HDF5 handles."""
        return self.__dict__ | {"_handles": {}}


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack :class:`ChunkDataset` items into a batch; instructions become a list."""
    return {
        "images": {
            cam: torch.stack([b["images"][cam] for b in batch]) for cam in batch[0]["images"]
        },
        "proprio": torch.stack([b["proprio"] for b in batch]),
        "instruction": [b["instruction"] for b in batch],
        "actions": torch.stack([b["actions"] for b in batch]),
        "action_mask": torch.stack([b["action_mask"] for b in batch]),
    }
