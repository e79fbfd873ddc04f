# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Stage 2: redundancy-aware step reduction
# GRPO at the horizon stage 1 chose (or the base `h` when stage 1 is ablated): successes with
# fewer physical steps earn a step-saving reward, and a group-anchored stability penalty
# discourages unreproducible shortcuts (PAPER.md §3; `rl.stage2.use_stability`,
# `rl.stage2.shortcut_check`). Resumes from `out_dir`'s last checkpoint.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
family = "pi05"
suite = "libero_object"
sft_dir = "data/sft/pi05-libero_object"
stage1_dir = "data/rl/stage1/pi05-libero_object"  # stage-1 weights in <stage1_dir>/final
stage1_metrics = "data/metrics/stage1/pi05-libero_object.json"
out_dir = "data/rl/stage2/pi05-libero_object"
metrics_path = "data/metrics/stage2/pi05-libero_object.json"

# %%
import json
from pathlib import Path

from dvclive import Live

from ptrim import config, figures, handover, models, sft, trainer

cfg = config.load(profile, overrides)
skipped = sft.skip_reason(cfg, family, suite) or handover.skip_stage(cfg, "stage2", family)
Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
Path(out_dir).mkdir(parents=True, exist_ok=True)
if skipped:
    _ = Path(metrics_path).write_text(json.dumps({"skipped": skipped}, indent=1) + "\n")
print(skipped or f"{family} on {suite}: {cfg.rl.stage2}")

# %% [markdown]
# ## Training

# %%
if not skipped:
    start, horizon = handover.stage2_start(
        json.loads(Path(stage1_metrics).read_text()), sft_dir, stage1_dir
    )
    print(f"from {start} at h = {horizon}")
    policy = models.load(start, device=cfg.device)
    with Live(str(Path(out_dir) / "live"), dvcyaml=None, save_dvc_exp=False, resume=True) as live:
        result = trainer.train_stage2(
            policy,
            cfg,
            suite,
            out_dir,
            model_name=family,
            horizon=horizon,
            live=live,
            restart_stale=True,  # checkpoints from an older input policy or settings: start over
        )
    fig = figures.training_curves(
        result["history"], figures.STAGE2_PANELS, f"stage 2: {family} on {suite}"
    )

# %%
if not skipped:
    summary = handover.stage2_summary(result, horizon, start)
    _ = Path(metrics_path).write_text(json.dumps(summary, indent=1) + "\n")

# %%
{"skipped": skipped} if skipped else {k: summary[k] for k in ("horizon", "iterations", "wall_s")}
