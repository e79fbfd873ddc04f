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
