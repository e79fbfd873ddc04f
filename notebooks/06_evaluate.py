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
# # 06 · Paired evaluation: base vs stage 1 vs PolicyTrim (stage 1 + 2)
# Every policy of one model runs its deployed (deterministic) plans from the same initial states
# with the same seeds (`evaluate.init_states` per task), each at its own execution length: the
# behaviour-cloned `base` at the family's base `h`, `stage1` and `policytrim` at the horizon
# their stage chose (`ptrim/evaluate.py`). Success, steps, `h`, calls, measured latency and
# episode wall time come with 95 % intervals. Latency is timed with the policies taking turns
# on the same observations (`evaluate.latency_rounds`; what the rollouts measured, which drifts
# with the machine's load, stays beside it as `latency_ms_rollout`), and episode wall time is
# calls × that latency + steps at the control rate. The paired comparisons (call speedup, the
# paper's Spd, step ratio, success difference) resample the same states for both policies.
#
# Writes `data/metrics/policytrim/<model>-<suite>.json` (top-level `base`, `stage1`,
# `policytrim`, `compare`) and, in `figures_dir`, `paired_<model>-<suite>` and
# `fig3_keyframes_<model>-<suite>` (PNG + PDF). Finished tasks are kept in `store_dir` (outside
# DVC outputs), so a killed evaluation resumes.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
family = "pi05"
suite = "libero_object"
sft_dir = "data/sft/pi05-libero_object"
stage1_dir = "data/rl/stage1/pi05-libero_object"
stage1_metrics = "data/metrics/stage1/pi05-libero_object.json"
stage2_dir = "data/rl/stage2/pi05-libero_object"
stage2_metrics = "data/metrics/stage2/pi05-libero_object.json"
metrics_path = "data/metrics/policytrim/pi05-libero_object.json"
figures_dir = "paper_figures/evaluate/pi05-libero_object"
store_dir = None  # finished episodes kept here (outside DVC outputs): a killed run resumes

# %%
import json
from pathlib import Path

from IPython.display import display

from ptrim import config, evaluate, figures, handover, latency, models, sft

cfg = config.load(profile, overrides)
skipped = sft.skip_reason(cfg, family, suite)
Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
Path(figures_dir).mkdir(parents=True, exist_ok=True)
if skipped:
    _ = Path(metrics_path).write_text(json.dumps({"skipped": skipped}, indent=1) + "\n")
    _ = (Path(figures_dir) / "README.md").write_text(f"Not evaluated: {skipped}.\n")
print(skipped or f"{family} on {suite}: {cfg.evaluate}")

# %%
if not skipped:
    runs = handover.main_runs(stage1_dir, stage1_metrics, stage2_dir, stage2_metrics)
    variants = handover.evaluation_variants(cfg, family, sft_dir, runs)
    names = [v.name for v in variants]
    print("\n".join(f"{v.name}: {v.weights} at h = {v.exec_len}" for v in variants))

# %% [markdown]
# ## Every policy from the same initial states

# %%
if not skipped:
    by_variant = evaluate.paired(variants, cfg, suite, store_root=store_dir)
    result = latency.paired_report(by_variant, variants, cfg, suite)  # policies timed in turn
    result["facts"] = {
        "family": family,
        "suite": suite,
        "parameters": models.parameter_count(variants[0].weights),
        "variants": [v.__dict__ for v in variants],
    }
    _ = Path(metrics_path).write_text(json.dumps(result, indent=1, default=str) + "\n")
    stem = Path(figures_dir) / f"paired_{family}-{suite}"
    _ = figures.save_figure(figures.paired_bars(result, names, f"{family} on {suite}"), stem)

# %%
if not skipped:
    summary, compared = evaluate.paired_tables(result, names)
    display(summary)

# %% [markdown]
# ## Paired comparisons against the base

# %%
if not skipped:
    display(compared)

# %% [markdown]
# ## Keyframes from one initial state (Fig. 3)
# The state where both the base and the last policy succeed and the saving in steps is the
# median over such states: a typical episode, not the best one.

# %%
state = None if skipped else evaluate.median_saving_state(by_variant["base"], by_variant[names[-1]])
if state and cfg.evaluate.keyframes:
    strips = evaluate.keyframe_strips(
        variants, by_variant, cfg, suite, state, cfg.evaluate.keyframes
    )
    fig = figures.fig3_keyframes(strips, f"{family} on {suite}")
    _ = figures.save_figure(fig, Path(figures_dir) / f"fig3_keyframes_{family}-{suite}")
