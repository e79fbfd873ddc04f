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
# # 01 · Expert demonstrations
# Privileged-state experts (`ptrim/experts/`) demonstrate every selected task from the shipped
# initial states, with human-like redundancy injected at the profile's level; only successes are
# kept, rendered and written as LIBERO-layout HDF5 (`data/demos/<suite>/<task>_demo.hdf5`).
# The expert's success and step counts, with and without redundancy, go to
# `data/metrics/experts/<suite>.json`.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
suite = "libero_object"
demo_dir = "data/demos/libero_object"
table_path = "data/metrics/experts/libero_object.json"

# %%
import json
from pathlib import Path

from ptrim import config, demos, figures

cfg = config.load(profile, overrides)
result = demos.suite_report(cfg, suite, Path(demo_dir))
Path(demo_dir).mkdir(parents=True, exist_ok=True)
Path(table_path).parent.mkdir(parents=True, exist_ok=True)
_ = Path(table_path).write_text(json.dumps(result["table"], indent=1) + "\n")

# %% [markdown]
# ## Expert success and demonstration length

# %%
figures.expert_summary({suite: result["table"]})

# %%
fig = figures.step_distributions(result["table"], title=f"{suite}: steps per successful episode")

# %% [markdown]
# ## Recorded demonstrations

# %%
{task: {k: v for k, v in s.items() if k != "steps"} for task, s in result["recorded"].items()}

# %%
files = sorted(Path(demo_dir).glob("*.hdf5"))[:4]
fig = figures.demo_frames(files) if files else None
