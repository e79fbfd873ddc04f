"""Environment check: build each suite's first task, render it, time the simulator.

The first pipeline stage (``notebooks/00_envcheck.py``). It proves the simulator stack works
headless on this machine and records how fast it is here — machines of the same kind differ
~3× — so later budgets can be read against it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ptrim.config import Config

HOLD_STILL = np.array([0, 0, 0, 0, 0, 0, -1], np.float32)


@dataclass
class SuiteCheck:
    suite: str
    task: str
    instruction: str
    n_init_states: int
    max_steps: int
    frames: dict[str, np.ndarray]  # camera -> upright RGB at initial state 0
    proprio: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)  # re-measured on every run

    def facts(self) -> dict:
        """What does not change between runs (shown in the notebook)."""
        return {
            "suite": self.suite,
            "task": self.task,
            "instruction": self.instruction,
            "initial states": self.n_init_states,
            "step limit": self.max_steps,
            "cameras": ", ".join(
                f"{c} {img.shape[0]}x{img.shape[1]}" for c, img in self.frames.items()
            ),
            "proprio dim": len(self.proprio),
        }


def check_suite(cfg: Config, suite: str, steps: int) -> SuiteCheck:
    from ptrim.envs.libero import make_libero_env

    task = cfg.libero.task_list(suite)[0]
    t0 = time.perf_counter()
    env = make_libero_env(cfg.libero, suite, task, seed=cfg.seed)
    t1 = time.perf_counter()
    env.reset(0)
    t2 = time.perf_counter()
    obs = env.observe()
    t3 = time.perf_counter()
    for _ in range(steps):
        env.step(HOLD_STILL)
    t4 = time.perf_counter()
    env.close()
    return SuiteCheck(
        suite=suite,
        task=task,
        instruction=env.instruction,
        n_init_states=env.num_init_states(),
        max_steps=env.max_steps,
        frames=obs["images"],
        proprio=obs["proprio"],
        timings={
            "build_s": t1 - t0,
            "reset_s": t2 - t1,
            "render_ms_per_frame": 1000 * (t3 - t2) / len(obs["images"]),
            "sim_steps_per_s": steps / (t4 - t3),
        },
    )


def run(cfg: Config, progress: bool = True) -> list[SuiteCheck]:
    from tqdm.auto import tqdm

    return [
        check_suite(cfg, s, cfg.envcheck.steps)
        for s in tqdm(cfg.envcheck.suites, desc="envcheck", disable=not progress)
    ]


def metrics(checks: list[SuiteCheck]) -> dict:
    """JSON for ``data/metrics/envcheck.json`` (timings: re-measured on every run)."""
    from ptrim.bench import machine

    return {
        "machine": machine(),
        "suites": {
            c.suite: {"task": c.task, **{k: round(v, 4) for k, v in c.timings.items()}}
            for c in checks
        },
    }


def frames_figure(checks: list[SuiteCheck]):
    """One row per suite, one column per camera: what the policy sees at initial state 0."""
    import matplotlib.pyplot as plt

    cams = list(checks[0].frames)
    fig, axes = plt.subplots(
        len(checks), len(cams), figsize=(2.6 * len(cams), 2.6 * len(checks)), squeeze=False
    )
    for row, c in zip(axes, checks, strict=True):
        for ax, cam in zip(row, cams, strict=True):
            ax.imshow(c.frames[cam])
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{c.suite} · {cam}", fontsize=8)
    fig.tight_layout()
    return fig
