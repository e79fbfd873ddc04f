"""Which benchmark a suite belongs to, and building its environments from the profile.

Three benchmarks, each with its own adapter (``ptrim/envs/<benchmark>.py``) and its own section
of ``params.yaml``:

==========  ==========================================================  ==========  =======
benchmark   suites                                                      action      proprio
==========  ==========================================================  ==========  =======
libero      libero_spatial, libero_object, libero_goal, libero_10       7 (OSC)     8
metaworld   metaworld_mt10, metaworld_mt50                              4 (xyz+grip) 4
maniskill   maniskill                                                   7 (ee pose) 4
==========  ==========================================================  ==========  =======

Nothing here imports a simulator: suites are validated and looked up without building anything.
"""

from __future__ import annotations

import importlib
from typing import Any

from ptrim.envs import libero_setup

BENCHMARKS: dict[str, tuple[str, ...]] = {
    "libero": libero_setup.SUITES,
    "metaworld": ("metaworld_mt10", "metaworld_mt50"),
    "maniskill": ("maniskill",),
}
ALL_SUITES: tuple[str, ...] = tuple(s for suites in BENCHMARKS.values() for s in suites)
# each benchmark's module with task_names(suite) and resolve_task(suite, task) (no simulator)
ADAPTERS: dict[str, str] = {
    "libero": "ptrim.envs.libero_setup",
    "metaworld": "ptrim.envs.metaworld",
    "maniskill": "ptrim.envs.maniskill",
}
# the environment class of each benchmark built from (suite, task, image_size, cameras,
# max_steps, seed); LIBERO has its own factory (ptrim.envs.libero.make_libero_env)
ENV_CLASSES: dict[str, tuple[str, str]] = {
    "metaworld": ("ptrim.envs.metaworld", "MetaWorldEnv"),
    "maniskill": ("ptrim.envs.maniskill", "ManiSkillEnv"),
}


def canonical_suite(name: str) -> str:
    """A suite's canonical name (LIBERO's short names such as ``"object"`` are accepted);
    raises ``ValueError`` listing every valid name."""
    key = str(name).lower()
    if key in ALL_SUITES:
        return key
    try:
        return libero_setup.canonical_suite(key)
    except ValueError:
        aliases = tuple(libero_setup.SUITE_ALIASES)
        raise ValueError(
            f"unknown suite {name!r}; valid suites: {', '.join(ALL_SUITES + aliases)}"
        ) from None


def benchmark_of(suite: str) -> str:
    """``"libero"``, ``"metaworld"`` or ``"maniskill"``."""
    suite = canonical_suite(suite)
    return next(b for b, suites in BENCHMARKS.items() if suite in suites)


def _adapter(suite: str) -> tuple[str, Any]:
    """``suite``'s canonical name and its benchmark's module (:data:`ADAPTERS`)."""
    suite = canonical_suite(suite)
    return suite, importlib.import_module(ADAPTERS[benchmark_of(suite)])


def task_names(suite: str) -> tuple[str, ...]:
    """Every task of ``suite`` in index order (imports the benchmark's package, not a sim)."""
    suite, adapter = _adapter(suite)
    return adapter.task_names(suite)


def resolve_task(suite: str, task: int | str) -> str:
    """A task's name from its index or name; raises with the valid names."""
    suite, adapter = _adapter(suite)
    return adapter.resolve_task(suite, task)


def step_limit(cfg, suite: str, task: int | str) -> int | None:
    """A policy's step limit on ``task``: the benchmark's (None: the adapter's own per task),
    capped by ``rollout.max_steps``."""
    limit, cap = cfg.bench(suite).step_limit(suite), cfg.rollout.max_steps
    if cap is None:
        return limit
    if limit is None and benchmark_of(suite) == "maniskill":
        from ptrim.envs import maniskill

        limit = maniskill.MAX_STEPS[maniskill.resolve_task(suite, task)]
    return cap if limit is None else min(limit, cap)


def make_env(cfg, suite: str, task: int | str, *, seed: int = 0):
    """An environment of ``suite`` (any benchmark) for a policy, as the profile ``cfg``
    describes it: cameras, image size and step limit from the benchmark's section of
    ``params.yaml``, the limit capped by ``rollout.max_steps`` if set."""
    suite = canonical_suite(suite)
    bench = benchmark_of(suite)
    section = cfg.bench(suite)
    limit = step_limit(cfg, suite, task)
    if bench == "libero":
        from ptrim.envs.libero import make_libero_env

        return make_libero_env(section, suite, task, seed=seed, max_steps=limit)
    module, name = ENV_CLASSES[bench]
    return getattr(importlib.import_module(module), name)(
        suite,
        task,
        image_size=section.image_size,
        cameras=tuple(section.cameras),
        max_steps=limit,
        seed=seed,
    )
