"""Figures and tables. Each function takes results (not simulators) and returns a matplotlib
figure or a DataFrame; notebooks call them and ``paper_figures/`` receives what they draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ptrim import paper


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


ACTION_NAMES = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")  # LIBERO, ManiSkill
ACTION_NAMES_XYZ = ("dx", "dy", "dz", "gripper")  # Meta-World


def action_names(dims: int) -> tuple[str, ...]:
    """Names of the action dimensions of a ``dims``-D action space."""
    return {7: ACTION_NAMES, 4: ACTION_NAMES_XYZ}.get(dims) or tuple(f"a{i}" for i in range(dims))


def planned_vs_demo(samples: list[dict]):
    """One row per sample: each action dimension over the chunk, demonstrated (solid) and
    planned by the policy (dashed); padded demo steps are left out."""
    import matplotlib.pyplot as plt

    names = action_names(samples[0]["demo"].shape[1])
    fig, axes = plt.subplots(
        len(samples), len(names), figsize=(2 * len(names), 1.6 * len(samples)), squeeze=False,
        sharex=True,
    )  # fmt: skip
    for r, (row, s) in enumerate(zip(axes, samples, strict=True)):
        real = np.flatnonzero(s["mask"])
        for d, ax in enumerate(row):
            ax.plot(real, s["demo"][real, d], lw=1.2, label="demo")
            ax.plot(np.arange(len(s["planned"])), s["planned"][:, d], lw=1, ls="--", label="plan")
            ax.set_ylim(-1.05, 1.05)
            ax.tick_params(labelsize=6)
            if r == 0:  # (`row is axes[0]` never holds: numpy rows are new views)
                ax.set_title(names[d], fontsize=8)
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


# --------------------------------------------------------------------------------------------
# Baseline profiling (the paper's Fig. 1; data from ptrim.profiling)
# --------------------------------------------------------------------------------------------


def save_figure(fig, stem: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` (folders created; no timestamp in the PDF, so an
    unchanged figure rewrites the same bytes). Returns the two paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = Path(f"{stem}.png"), Path(f"{stem}.pdf")
    fig.savefig(png, dpi=dpi, bbox_inches="tight")
    fig.savefig(pdf, bbox_inches="tight", metadata={"CreationDate": None})
    return [png, pdf]


def _column(rows: list[dict], name: str, scale: float = 1.0) -> np.ndarray:
    """One column of flat rows as floats (None -> NaN), times ``scale``."""
    return np.array([r.get(name) for r in rows], dtype=float) * scale


def _band(ax, x, rows: list[dict], name: str, scale: float = 1.0, **style):
    """A line with markers and, where the rows have ``<name>_lo``/``_hi``, a shaded interval."""
    (line,) = ax.plot(x, _column(rows, name, scale), **style)
    if rows and f"{name}_lo" in rows[0]:
        lo, hi = _column(rows, f"{name}_lo", scale), _column(rows, f"{name}_hi", scale)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
    return line


def _sr_steps_panel(ax, rows: list[dict], title: str, sr_scale: float = 100.0) -> None:
    """Success rate (left axis, %) and steps of successful episodes (right axis) against h."""
    x = _column(rows, "h")
    sr = _band(ax, x, rows, "success_rate", sr_scale, marker="o", color="C0", label="success")
    ax.set_xlabel("execution length h")
    ax.set_ylabel("success rate (%)", color="C0")
    ax.set_xticks(x)
    twin = ax.twinx()
    st = _band(twin, x, rows, "steps", marker="s", ls="--", color="C3", label="steps")
    twin.set_ylabel("steps to success", color="C3")
    ax.legend(handles=[sr, st], fontsize=7, loc="lower left")
    ax.set_title(title, fontsize=9)


def fig1a_step_variance(variance: dict, title: str = ""):
    """Per task: box plot of the steps of successful repeated rollouts (all initial states of
    the task pooled), repeats shown as dots; tasks without a success are listed apart."""
    import matplotlib.pyplot as plt

    per_task = {t: s for t, s in variance["per_task"].items() if s}
    missing = [t for t, s in variance["per_task"].items() if not s]
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(per_task), 2) + 1.2))
    if per_task:
        data = list(per_task.values())
        ax.boxplot(data, orientation="horizontal", tick_labels=[_short(t) for t in per_task])
        rng = np.random.default_rng(0)  # fixed jitter: the same figure every run
        for y, steps in enumerate(data, start=1):
            ax.plot(steps, y + rng.uniform(-0.15, 0.15, len(steps)), ".", color="C0", ms=3)
    ax.set_xlabel("steps to success (repeated sampled rollouts)")
    ax.invert_yaxis()
    if missing:
        note = f"no success: {', '.join(map(_short, missing))}"
        ax.text(0, -0.12, note, fontsize=6, transform=ax.transAxes, va="top")
    cv = variance.get("mean_cv")
    cv_text = f"mean step CV {cv:.2f}" if cv is not None and np.isfinite(cv) else ""
    ax.set_title(f"{title}  {cv_text}".strip(), fontsize=9)
    fig.tight_layout()
    return fig


def fig1b_exec_length(
    rows: list[dict], *, reliable_h: int | None = None, title: str = "", with_paper: bool = True
):
    """Success rate and steps against execution length h, with 95 % bands (ours, from
    ``profiling.sweep_table`` rows); a dotted line at the reliable h. ``with_paper`` adds a panel
    with the paper's curve (:data:`ptrim.paper.FIG1B`, no intervals published)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if with_paper else 1, figsize=(10 if with_paper else 5.2, 3.4))
    axes = np.atleast_1d(axes)
    _sr_steps_panel(axes[0], rows, title or "ours")
    if reliable_h is not None:
        axes[0].axvline(reliable_h, ls=":", color="0.4")
        where = ("data", "axes fraction")
        note = f"reliable h = {reliable_h}"
        axes[0].annotate(note, (reliable_h, 0.98), xycoords=where, fontsize=7, ha="right", va="top")
    if with_paper:
        p = paper.FIG1B
        paper_rows = [
            {"h": h, "success_rate": s, "steps": st}
            for h, s, st in zip(p["h"], p["success_rate"], p["steps"], strict=True)
        ]
        _sr_steps_panel(axes[1], paper_rows, p["label"], sr_scale=1.0)
    fig.tight_layout()
    return fig


def fig1c_redundancy(rows: list[dict], keyframes: dict | None = None, title: str = ""):
    """Redundant share of steps and path ratio against h, with 95 % bands (successful episodes,
    ``profiling.redundancy_table`` rows); ``keyframes`` (``profiling.keyframes``) adds a strip
    of frames of the most redundant episode below."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(9, 3.2 + (2.0 if keyframes else 0.0)), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.2, 2.0]) if keyframes else (fig, None)
    share_ax, path_ax = top.subplots(1, 2)
    x = _column(rows, "h")
    _band(share_ax, x, rows, "redundant_share", 100.0, marker="o", color="C1")
    share_ax.set_ylabel("redundant steps (% of steps)")
    _band(path_ax, x, rows, "path_ratio", marker="o", color="C2")
    path_ax.axhline(1.0, ls=":", color="0.5", lw=0.8)
    path_ax.set_ylabel("path length / straight line")
    for ax in (share_ax, path_ax):
        ax.set_xlabel("execution length h")
        ax.set_xticks(x)
    top.suptitle(title, fontsize=9)
    if keyframes and keyframes["frames"]:
        axes = np.atleast_1d(bottom.subplots(1, len(keyframes["frames"])))
        k = keyframes
        for ax, frame, step in zip(axes, k["frames"], k["frame_steps"], strict=True):
            ax.imshow(frame)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"t={step}", fontsize=7)
        bottom.suptitle(
            f"most redundant: {_short(k['task'])} #{k['init_index']}, h={k['exec_len']}", fontsize=8
        )
    return fig


def fig3_keyframes(strips: dict[str, dict], title: str = ""):
    """The paper's Fig. 3: one row of frames per policy (``{name: profiling.keyframes(...)}``),
    all from the same initial state, evenly spaced over the calls until the episode ended;
    each row says how many steps and calls it took."""
    import matplotlib.pyplot as plt

    cols = max((len(k["frames"]) for k in strips.values()), default=1)
    fig, axes = plt.subplots(
        len(strips), cols, figsize=(1.7 * cols, 1.95 * len(strips)), squeeze=False
    )
    for row, (name, k) in zip(axes, strips.items(), strict=True):
        for ax in row:
            ax.axis("off")
        for ax, frame, step in zip(row, k["frames"], k["frame_steps"], strict=False):
            ax.imshow(frame)
            ax.set_title(f"t={step}", fontsize=7)
        outcome = "success" if k["success"] else "failure"
        row[0].text(
            -0.08,
            0.5,
            f"{name}\nh={k['exec_len']}\n{k['steps']} steps\n{outcome}",
            transform=row[0].transAxes,
            ha="right",
            va="center",
            fontsize=7,
        )
    first = next(iter(strips.values()), None)
    where = f"{_short(first['task'])} #{first['init_index']}" if first else ""
    fig.suptitle(f"{title}  {where}".strip(), fontsize=9)
    fig.tight_layout()
    return fig


def table1_bars(rows: list[dict], title: str = ""):
    """Table 1 at a glance: steps to success and Spd per model × suite, base and PolicyTrim,
    ours (with 95 % intervals) beside the paper's (``tables.table1_rows`` rows)."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["model"], r["suite"]) for r in rows))
    bars = [("paper", "base"), ("paper", "policytrim"), ("ours", "base"), ("ours", "policytrim")]
    styles = {
        ("paper", "base"): dict(color="0.75"),
        ("paper", "policytrim"): dict(color="0.45"),
        ("ours", "base"): dict(color="C0", alpha=0.55),
        ("ours", "policytrim"): dict(color="C0"),
    }
    keyed = {(r["model"], r["suite"], r["source"], r["method"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(max(6, 1.6 * len(groups) + 3), 3.2))
    width = 0.8 / len(bars)
    for ax, (name, label) in zip(axes, (("S", "steps to success"), ("Spd", "Spd")), strict=True):
        for i, (source, method) in enumerate(bars):
            got = [keyed.get((m, s, source, method), {}) for m, s in groups]
            value = np.array([g.get(name, np.nan) for g in got], dtype=float)
            lo = np.array([g.get(f"{name}_lo", np.nan) for g in got], dtype=float)
            hi = np.array([g.get(f"{name}_hi", np.nan) for g in got], dtype=float)
            err = np.nan_to_num(np.vstack([value - lo, hi - value]))
            err = err if np.isfinite(lo).any() else None  # the paper publishes no intervals
            x = np.arange(len(groups)) + (i - (len(bars) - 1) / 2) * width
            ax.bar(
                x,
                value,
                width,
                yerr=err,
                capsize=2,
                label=f"{source} {method}",
                **styles[(source, method)],
            )
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels(
            [f"{paper.MODEL_NAMES.get(m, m)}\n{paper.SUITE_NAMES.get(s, s)}" for m, s in groups],
            fontsize=7,
        )
        ax.set_title(label, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


PAIRED_PANELS = (
    ("success_rate", "success rate (%)", 100.0),
    ("steps", "steps to success", 1.0),
    ("calls", "calls per success", 1.0),
    ("e2e_time", "episode time (s)", 1.0),
)


def paired_bars(result: dict, variants: list[str], title: str = ""):
    """Bars with 95 % intervals of each policy's success, steps, calls and end-to-end episode
    time (an ``evaluate.paired_report``), one colour per policy."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PAIRED_PANELS), figsize=(3.1 * len(PAIRED_PANELS), 3))
    for ax, (name, label, scale) in zip(axes, PAIRED_PANELS, strict=True):
        est = [result[v][name] for v in variants]
        value = np.array([e["value"] for e in est], dtype=float) * scale
        lo = np.array([e["lo"] for e in est], dtype=float) * scale
        hi = np.array([e["hi"] for e in est], dtype=float) * scale
        err = np.nan_to_num(np.vstack([value - lo, hi - value]))
        ax.bar(variants, value, yerr=err, color=[f"C{i}" for i in range(len(variants))], capsize=3)
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="x", labelsize=7, rotation=20)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# RL training curves: (panel title, [history keys or key prefixes ending in "/"])
STAGE1_PANELS = (
    ("success per execution length", ["success/"]),
    ("frontier and horizon", ["stage1/frontier", "stage1/selected_h", "exec_len"]),
    ("steps", ["steps", "steps_all"]),
    ("rewards", ["reward/"]),
    ("PPO", ["train/clip_frac", "train/approx_kl", "train/kl_ref", "train/step_kl"]),
    ("wall time per iteration (s)", ["time/sim_s", "time/policy_s", "time/update_s"]),
)
STAGE2_PANELS = (
    ("success", ["success_rate"]),
    ("steps", ["steps", "steps_all"]),
    ("rewards", ["reward/"]),
    ("groups", ["groups/"]),
    ("PPO", ["train/clip_frac", "train/approx_kl", "train/kl_ref", "train/step_kl"]),
    ("wall time per iteration (s)", ["time/sim_s", "time/policy_s", "time/update_s"]),
)


def _series(history: list[dict], pattern: str) -> list[str]:
    """History keys matching ``pattern`` (exact, or every key under a ``prefix/``)."""
    keys = sorted({k for h in history for k in h})
    return [k for k in keys if k == pattern or (pattern.endswith("/") and k.startswith(pattern))]


def training_curves(history: list[dict], panels=STAGE1_PANELS, title: str = ""):
    """One small panel per group of logged metrics against RL iterations (missing keys are
    left out, so the same panels serve every family and ablation)."""
    import matplotlib.pyplot as plt

    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (name, patterns) in zip(axes.flat, panels, strict=False):
        for key in [k for p in patterns for k in _series(history, p)]:
            points = [(h["iteration"], h[key]) for h in history if key in h]
            ax.plot(*zip(*points, strict=True), marker=".", lw=1, label=key)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        if ax.lines:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
