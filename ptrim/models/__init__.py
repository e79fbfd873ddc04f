"""VLA policy families behind one interface (:class:`ptrim.models.base.ChunkPolicy`).

``build("oft", "micro", plan_horizon=8)`` makes a randomly initialised model;
``load(path)`` reads one written by ``save_pretrained``.
"""

from __future__ import annotations

from typing import Any


def build(family: str, preset: str, plan_horizon: int, **spec: Any):
    """A fresh model of ``family`` at size ``preset`` planning ``plan_horizon`` actions."""
    from ptrim.models import gr00t, oft, openvla, pi05  # noqa: F401  (register the families)
    from ptrim.models.policy import FAMILIES
    from ptrim.models.spec import ModelSpec

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; allowed: {sorted(FAMILIES)}")
    return FAMILIES[family](ModelSpec(family, preset, plan_horizon, **spec))


def load(directory, device="cpu"):
    """A model saved with ``save_pretrained`` (safetensors + config.json + tokenizer.json)."""
    from ptrim.models import gr00t, oft, openvla, pi05  # noqa: F401
    from ptrim.models.policy import VLAPolicy

    return VLAPolicy.from_pretrained(directory, device)


def parameter_count(directory) -> int:
    """Parameters stored in a ``save_pretrained`` directory, read from the safetensors header
    (nothing is loaded)."""
    import math
    from pathlib import Path

    from safetensors import safe_open

    with safe_open(str(Path(directory) / "model.safetensors"), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
