"""Shared fixtures. Under CI (``CI=true``) nothing that needs the simulator may be skipped."""

from __future__ import annotations

import functools
import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `pytest -n 2` on 2 cores: one intra-op thread per worker (and in every process it
    # starts), or two 2-thread torch workers beside simulators slow each other 3-14x
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@functools.cache
def libero_unavailable() -> str | None:
    """Why LIBERO cannot run here, or None."""
    try:
        from ptrim.envs import libero_setup

        libero_setup.prepare()
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"LIBERO is not set up: {exc}"
    return None


@functools.cache
def maniskill_unavailable() -> str | None:
    """Why ManiSkill3 cannot render here (with what to install), or None."""
    from ptrim.envs import maniskill_setup

    problem = maniskill_setup.check()
    return None if problem is None else f"{problem}\n{maniskill_setup.instructions()}"


@pytest.fixture
def one_thread():
    """Bit-exact comparisons and a busy 2-core machine: one intra-op thread (modules that
    compare weights bit for bit use it with ``pytestmark = pytest.mark.usefixtures(...)``)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Outside CI, simulator tests are skipped (with the reason) when LIBERO is not set up or
    SAPIEN cannot render; in CI they always run, so a broken setup fails the build instead of
    hiding."""
    if IN_CI:
        return
    for item in items:
        if "sim" in item.keywords and (reason := libero_unavailable()):
            item.add_marker(pytest.mark.skip(reason=reason))
        elif "maniskill" in item.keywords and (reason := maniskill_unavailable()):
            item.add_marker(pytest.mark.skip(reason=reason))
