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
# # 07 · Table 2: ManiSkill3 and Meta-World, ours beside the paper's
# Reads the paired evaluations of the profile's Meta-World and ManiSkill suites
# (`data/metrics/policytrim/`) and writes to `paper_figures/`:
# - `table2_maniskill_metaworld` in the paper's layout (CSV with 95 % intervals, Markdown,
#   LaTeX) and as bars (PNG/PDF);
# - `table2_per_task`: success and steps of the base and PolicyTrim per task, which names the
#   ManiSkill3 tasks standing in for the paper's `PutOnPlateInScene25` scenes.
#
# Its own stage, so Table 2 is rebuilt as soon as its pairs are evaluated, without waiting for
# LIBERO's tables (the `figures` stage) or the ablations. A pair not yet evaluated is a `—`.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
metrics_dir = "data/metrics/policytrim"
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
suites = (*cfg.metaworld.suites, *cfg.maniskill.suites)
models = tables.table2_models(cfg.families)
limits = {s: tables.step_limit_text(cfg, s) for s in suites}
for state, pairs in tables.pair_status(results, models, suites).items():
    print(f"{state}:", pairs or "none")

# %% [markdown]
# ## Table 2

# %%
rows = tables.table2_rows(results, models, suites, limits)
_ = tables.write_table(rows, out / "table2_maniskill_metaworld", tables.table2_caption(cfg))
display(Markdown((out / "table2_maniskill_metaworld.md").read_text()))
fig = figures.table1_bars(rows, "Table 2: steps and speed-up, ours beside the paper's")
_ = figures.save_figure(fig, out / "table2_maniskill_metaworld")

# %% [markdown]
# ## Per task

# %%
rows = tables.per_task_rows(results, models, suites)
_ = tables.write_per_task(rows, out / "table2_per_task", "Table 2 per task (ours only)")
display(Markdown((out / "table2_per_task.md").read_text()))
