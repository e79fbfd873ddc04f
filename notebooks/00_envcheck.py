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
# # 00 · Environment check
# Builds the first task of every LIBERO suite headless, renders what the policy will see, and
# times the simulator on this machine. Timings go to `data/metrics/envcheck.json` (they are
# re-measured on every run, so they are not printed here: this notebook's output is byte-stable).

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
metrics_path = "data/metrics/envcheck.json"

# %%
import json
from pathlib import Path

import pandas as pd

from ptrim import config, envcheck

cfg = config.load(profile, overrides)
checks = envcheck.run(cfg)

# %% [markdown]
# ## What each suite looks like to the policy (initial state 0, upright)

# %%
fig = envcheck.frames_figure(checks)

# %%
pd.DataFrame([c.facts() for c in checks]).set_index("suite")

# %%
Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
_ = Path(metrics_path).write_text(json.dumps(envcheck.metrics(checks), indent=2) + "\n")
