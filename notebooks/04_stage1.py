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
# # 04 · Stage 1: reliable chunk extension
# GRPO from the behaviour-cloned policy (`ptrim/trainer.py`, PAPER.md §3): each group is `G`
# rollouts from one initial state, each executing its own `h` before re-planning (`pattern`: the
# paper's fixed ladder; `frontier`: ours, starting at the profiled reliable `h`), and successes
# at longer `h` earn more. The horizon handed to stage 2 is chosen by the code from the
# per-horizon success it logged. Resumes from `out_dir`'s last checkpoint.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
family = "pi05"
suite = "libero_object"
sft_dir = "data/sft/pi05-libero_object"  # behaviour-cloned weights in <sft_dir>/final
profile_metrics = "data/metrics/profile/pi05-libero_object.json"
out_dir = "data/rl/stage1/pi05-libero_object"
metrics_path = "data/metrics/stage1/pi05-libero_object.json"

# %%
import json
from pathlib import Path

from dvclive import Live

from ptrim import config, figures, handover, models, trainer

cfg = config.load(profile, overrides)
skipped, base = handover.stage1_inputs(cfg, family, suite, profile_metrics)
Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
Path(out_dir).mkdir(parents=True, exist_ok=True)
if skipped:
    _ = Path(metrics_path).write_text(json.dumps(handover.skipped(skipped, base), indent=1) + "\n")
print(skipped or f"{family} on {suite}: base {base}; {cfg.rl}")

# %% [markdown]
# ## Training

# %%
if not skipped:
    policy = models.load(Path(sft_dir) / "final", device=cfg.device)
    with Live(str(Path(out_dir) / "live"), dvcyaml=None, save_dvc_exp=False, resume=True) as live:
        result = trainer.train_stage1(
            policy,
            cfg,
            suite,
            out_dir,
            model_name=family,
            sr_base=base["success_rate"],
            start_h=base["reliable_exec_len"],
            live=live,
            restart_stale=True,  # checkpoints from an older input policy or settings: start over
        )
    fig = figures.training_curves(
        result["history"], figures.STAGE1_PANELS, f"stage 1: {family} on {suite}"
    )

# %% [markdown]
# ## Per-horizon success and the horizon handed to stage 2

# %%
if not skipped:
    summary = handover.stage1_summary(result, base)
    _ = Path(metrics_path).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"stage 2 gets h = {summary['horizon']} (base h = {base['exec_len']})")
    summary["per_horizon_success"]

# %%
{"skipped": skipped} if skipped else {k: summary[k] for k in ("horizon", "iterations", "wall_s")}
