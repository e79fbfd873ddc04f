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
# # 07 · The paper's tables and figures, ours beside the paper's
# Reads the committed metrics of every evaluated model × suite (`data/metrics/policytrim/`) and
# the RL histories (`data/rl/stage1`, `data/rl/stage2`), and writes to `paper_figures/`:
# - `table1_libero` (the paper's Table 1 layout) and `table_generality`, each as CSV (every
#   number with its 95 % interval), Markdown and LaTeX (`ptrim/tables.py`);
# - `curves/`: the training curves of both RL stages.
#
# The other artifacts come from their own stages: Figures 1a–c from `profile`, Fig. 3 from
# `evaluate`, Table 2 from `table2`, `table_ablation` from `ablations`; the `index` stage
# (`python -m ptrim.catalog paper_figures`) then lists every file in `paper_figures/README.md`.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
metrics_dir = "data/metrics/policytrim"
rl_dir = "data/rl"
figures_dir = "paper_figures"

# %%
import os
from pathlib import Path

from IPython.display import Markdown, display

from ptrim import config, figures, tables

os.chdir(config.project_root())  # in Lab the kernel starts in notebooks/
cfg = config.load(profile, overrides)
out = Path(figures_dir)
results = tables.load_results(metrics_dir)
print(f"{len(results)} evaluated pairs: {sorted(results)}")

# %% [markdown]
# ## Table 1 (LIBERO)

# %%
limits = {s: tables.step_limit_text(cfg, s) for s in cfg.libero.suites}
rows = tables.table1_rows(results, tables.table1_models(cfg.families), cfg.libero.suites, limits)
_ = tables.write_table(rows, out / "table1_libero", "LIBERO: base vs PolicyTrim (ours and paper)")
display(Markdown((out / "table1_libero.md").read_text()))
fig = figures.table1_bars(rows, "steps and speed-up: ours beside the paper's")
_ = figures.save_figure(fig, out / "table1_libero")

# %% [markdown]
# ## Architectural generality

# %%
rows = tables.generality_rows(results)
_ = tables.write_table(rows, out / "table_generality", "Generality: OFT H = 16 and OpenVLA")
display(Markdown((out / "table_generality.md").read_text()))

# %% [markdown]
# ## RL training curves

# %%
for stage, panels in (("stage1", figures.STAGE1_PANELS), ("stage2", figures.STAGE2_PANELS)):
    for pair, history in tables.histories(Path(rl_dir) / stage).items():
        fig = figures.training_curves(history, panels, f"{stage}: {pair}")
        _ = figures.save_figure(fig, out / "curves" / f"{stage}_{pair}")
