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
# # 08 · Ablations: what each part of PolicyTrim contributes
# For each model of `ablation.models` on each suite of the profile (`ptrim/ablations.py`):
# - `stage2_only` — stage 2 from the behaviour-cloned policy at its base `h` (no stage 1);
# - `no_stability` — stage 1 + 2 with stage 2 retrained without the stability penalty;
# - `frontier` — stage 1 with our frontier curriculum instead of the paper's ladder;
#
# each trained with the main stages' code and one setting changed (resumable), then evaluated
# paired with the base, `stage1` (stage 1 only) and `policytrim` (stage 1 + 2) from the same
# states and seeds. Writes `data/metrics/ablations/<model>-<suite>.json` and the table of all
# pairs, `paper_figures/table_ablation` (CSV with intervals, Markdown, LaTeX).

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
data_root = "data"
metrics_dir = "data/metrics/ablations"
store_dir = None  # finished evaluation episodes (outside DVC outputs): a killed run resumes
figures_dir = "paper_figures"

# %%
import json
from pathlib import Path

from IPython.display import Markdown, display

from ptrim import ablations, config, evaluate, tables

cfg = config.load(profile, overrides)
Path(metrics_dir).mkdir(parents=True, exist_ok=True)
pairs = [(m, s) for m in cfg.ablation.models for s in cfg.libero.suites if m in cfg.families]
print(f"{cfg.ablation}; pairs: {pairs or 'none'}")

# %%
reports = {}
for model, suite in pairs:
    reports[f"{model}-{suite}"] = ablations.run_pair(
        cfg, profile, overrides, model, suite, data_root=data_root, store_dir=store_dir
    )
    path = Path(metrics_dir) / f"{model}-{suite}.json"
    _ = path.write_text(json.dumps(reports[f"{model}-{suite}"], indent=1, default=str) + "\n")

# %% [markdown]
# ## Every variant against the base

# %%
for pair, report in reports.items():
    names = [v["name"] for v in report["facts"]["variants"]]
    summary, compared = evaluate.paired_tables(report, names)
    print(pair)
    display(summary)
    display(compared)

# %% [markdown]
# ## The ablation table

# %%
table = Path(figures_dir) / "table_ablation"
_ = tables.write_ablation_table(tables.ablation_rows(reports), table)
display(Markdown(table.with_suffix(".md").read_text()))
