"""Atomic file writes for runs that may be killed at any moment (checkpoints, histories,
stored episodes): a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=1) + "\n")


def replace_dir(tmp: Path, final: Path) -> None:
    """Move the finished directory ``tmp`` to ``final``, replacing an older one."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def fresh_dir(path: Path) -> Path:
    """An empty directory at ``path`` (whatever was there is deleted)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
