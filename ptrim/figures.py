"""Figures and tables. Each function takes results (not simulators) and returns a matplotlib
figure or a DataFrame; notebooks call them and ``paper_figures/`` receives what they draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def demo_frames(paths: list[Path], n_frames: int = 6, camera: str = "agentview_rgb"):
    """One row per demonstration file (its first demo), ``n_frames`` evenly spaced frames."""
    import matplotlib.pyplot as plt

    from ptrim.data import DemoFile

    fig, axes = plt.subplots(
        len(paths), n_frames, figsize=(1.6 * n_frames, 1.7 * len(paths)), squeeze=False
    )
    for row, path in zip(axes, paths, strict=True):
        with DemoFile(path) as f:
            T = int(f.lengths()[0])
            for ax, t in zip(row, np.linspace(0, T - 1, n_frames).astype(int), strict=True):
                ax.imshow(f.read(0, f"obs/{camera}", t))
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"t={t}", fontsize=7)
            row[0].set_ylabel(f.instruction[:28], fontsize=7)
    fig.tight_layout()
    return fig


def step_distributions(table: dict[str, dict], title: str = ""):
    """Per task: steps of successful expert episodes at redundancy 0 vs the recorded demos."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = [
        {"task": _short(task), "redundancy": level, "steps": s}
        for task, r in table.items()
        for level, key in (("0", "steps"), ("demos", "steps_demos"))
        for s in r.get(key, [])
    ]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(table), 2) + 1))
    if rows:
        sns.boxplot(
            data=pd.DataFrame(rows),
            y="task",
            x="steps",
            hue="redundancy",
            ax=ax,
            fliersize=2,
            linewidth=0.8,
        )
    ax.set_title(title)
    fig.tight_layout()
    return fig


def expert_summary(tables: dict[str, dict]) -> pd.DataFrame:
    """One row per suite: expert success and demo length with and without redundancy."""
    rows = []
    for suite, table in tables.items():
        if not table:
            continue
        t = pd.DataFrame(table).T.astype({"success_rate": float})
        t = t[t["success_rate"].notna()]  # tasks the expert does not attempt are listed apart
        if t.empty:
            continue
        rows.append(
            {
                "suite": suite,
                "tasks": len(t),
                "unsupported": len(table) - len(t),
                "expert SR (%)": 100 * t["success_rate"].mean(),
                "worst task SR (%)": 100 * t["success_rate"].min(),
                "steps r=0": t["mean_steps"].astype(float).mean(),
                "demo yield (%)": 100 * t["success_rate_demos"].mean(),
                "demo steps": t["mean_steps_demos"].astype(float).mean(),
                "length ratio": t["mean_steps_demos"].astype(float).mean()
                / t["mean_steps"].astype(float).mean(),
                "demo step CV": t["step_cv_demos"].astype(float).mean(),
            }
        )
    return pd.DataFrame(rows).set_index("suite").round(2) if rows else pd.DataFrame()


def _short(task: str, n: int = 40) -> str:
    return task if len(task) <= n else task[: n - 1] + "…"


def loss_curve(history: list[dict], title: str = ""):
    """Behaviour-cloning loss (log scale) and learning rate against optimizer steps."""
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(steps, [h["loss"] for h in history], lw=1, label="loss")
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("BC loss")
    lr = ax.twinx()
    lr.plot(steps, [h["lr"] for h in history], color="0.6", lw=0.8, ls="--")
    lr.set_ylabel("learning rate", color="0.5")
    ax.set_title(title)
    fig.tight_layout()
    return fig


ACTION_NAMES = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")


def planned_vs_demo(samples: list[dict]):
    """One row per sample: each action dimension over the chunk, demonstrated (solid) and
    planned by the policy (dashed); padded demo steps are left out."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(samples), 7, figsize=(14, 1.6 * len(samples)), squeeze=False, sharex=True
    )
    for row, s in zip(axes, samples, strict=True):
        real = np.flatnonzero(s["mask"])
        for d, ax in enumerate(row):
            ax.plot(real, s["demo"][real, d], lw=1.2, label="demo")
            ax.plot(np.arange(len(s["planned"])), s["planned"][:, d], lw=1, ls="--", label="plan")
            ax.set_ylim(-1.05, 1.05)
            ax.tick_params(labelsize=6)
            if row is axes[0]:
                ax.set_title(ACTION_NAMES[d], fontsize=8)
        row[0].set_ylabel(s["instruction"][:24], fontsize=6)
    axes[0, -1].legend(fontsize=6)
    fig.tight_layout()
    return fig


def task_success(per_task: dict[str, dict], title: str = ""):
    """Horizontal bars: success rate per task (with the number of episodes)."""
    import matplotlib.pyplot as plt

    tasks = list(per_task)
    sr = [100 * per_task[t]["success_rate"] for t in tasks]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(tasks) + 1))
    ax.barh([_short(t) for t in tasks], sr)
    for y, (t, v) in enumerate(zip(tasks, sr, strict=True)):
        ax.text(v + 1, y, f"{v:.0f}% (n={per_task[t]['n']})", va="center", fontsize=7)
    ax.set_xlim(0, 115)
    ax.set_xlabel("success rate (%)")
    ax.invert_yaxis()
    ax.set_title(title)
    fig.tight_layout()
    return fig
