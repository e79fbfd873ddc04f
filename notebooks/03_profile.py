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
# # 03 · Baseline profiling (the paper's Fig. 1)
# The behaviour-cloned policy before any RL (`ptrim/profiling.py`):
# - **execution-length sweep** (Fig. 1b): every profile task from the same initial states and
#   seeds at each `h` of an even grid up to `H`; success, steps, calls, latency, wall time with
#   95 % intervals, and the largest *reliable* `h` (success within `epsilon` of the best);
# - **step variance** (Fig. 1a): repeated sampled rollouts from the same initial states;
# - **redundancy** (Fig. 1c): nearly-still steps, re-grasps and path ratio, measured on the
#   sweep's trajectories, with frames of the most redundant successful episode;
# - **plan-tail error**: deterministic plan vs demonstrated chunk per plan position.
#
# Writes `data/metrics/profile/<model>-<suite>.json` and, in `figures_dir`
# (`paper_figures/profile/<model>-<suite>/` under DVC), each figure as
# `<figure>_<model>-<suite>.png/.pdf` with its data as `<figure>_<model>-<suite>.csv`
# (`fig1a_step_variance`, `fig1b_exec_length`, `fig1c_redundancy`, plus `tail_error_*.csv`), so
# every model and suite keeps its own files. A pair the profile does not train records why.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
family = "pi05"
suite = "libero_spatial"
sft_dir = "data/sft/pi05-libero_spatial"  # trained weights in <sft_dir>/final
demo_dir = "data/demos/libero_spatial"
metrics_path = "data/metrics/profile/pi05-libero_spatial.json"
figures_dir = "paper_figures"
store_dir = None  # finished episodes kept here (outside DVC outputs): a killed run resumes

# %%
import dataclasses
import functools
import json
from pathlib import Path

import pandas as pd

from ptrim import config, evaluate, figures, metrics, models, profiling, sft

cfg = config.load(profile, overrides)
prof = cfg.profiling
skipped = sft.skip_reason(cfg, family, suite)
Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
Path(figures_dir).mkdir(parents=True, exist_ok=True)
if skipped:
    _ = Path(metrics_path).write_text(json.dumps({"skipped": skipped}, indent=1) + "\n")
    _ = (Path(figures_dir) / "README.md").write_text(f"Not profiled: {skipped}.\n")
stem = functools.partial(profiling.figure_stem, figures_dir, model=family, suite=suite)
print(skipped or f"{family} on {suite}: {prof}")

# %%
if not skipped:
    policy = models.load(Path(sft_dir) / "final", device=cfg.device).eval()
    H, base_h = cfg.models[family].plan_horizon, cfg.models[family].exec_len
    grid = profiling.exec_len_grid(H, base_h, prof.exec_len_points)
    store = evaluate.policy_store(store_dir, policy, cfg, suite) if store_dir else None
    pool = evaluate.env_pool(cfg, suite, seed=cfg.seed)  # each task's envs built once
    print(f"H = {H}, base h = {base_h}, sweep over h = {grid}")

# %% [markdown]
# ## Execution-length sweep (Fig. 1b)

# %%
if not skipped:
    by_h = profiling.sweep(
        policy,
        cfg,
        suite,
        grid,
        init_states=prof.init_states,
        seed=cfg.seed,
        store=store,
        pool=pool,
    )
    sweep_rows = profiling.sweep_table(by_h, seed=cfg.seed)
    reliable_h = profiling.reliable_exec_len(sweep_rows, prof.epsilon)
    profiling.write_csv(sweep_rows, f"{stem('fig1b_exec_length')}.csv")
    fig = figures.fig1b_exec_length(
        sweep_rows, reliable_h=reliable_h, title=f"ours ({family}, {suite})"
    )
    _ = figures.save_figure(fig, stem("fig1b_exec_length"))

# %%
columns = ["n", "success_rate", "steps", "steps_all", "calls", "exec_len", "wall_time"]
None if skipped else pd.DataFrame(sweep_rows).set_index("h")[columns].round(3)

# %% [markdown]
# ## Step variance over repeated sampled rollouts (Fig. 1a)

# %%
if not skipped:
    repeated = profiling.repeated_rollouts(
        policy,
        cfg,
        suite,
        exec_len=base_h,
        init_states=prof.variance_init_states,
        repeats=prof.variance_repeats,
        seed=cfg.seed,
        store=store,
        pool=pool,
    )
    pool.close()
    variance = profiling.step_variance(repeated)
    step_cv = metrics.bootstrap(repeated, metrics.step_cv, seed=cfg.seed)
    profiling.write_csv(profiling.variance_rows(variance), f"{stem('fig1a_step_variance')}.csv")
    title = f"{family} on {suite}, h = {base_h}, {prof.variance_repeats} repeats per state"
    fig = figures.fig1a_step_variance(variance, title=title)
    _ = figures.save_figure(fig, stem("fig1a_step_variance"))
    print(f"step CV {step_cv}")

# %% [markdown]
# ## Redundancy against execution length (Fig. 1c)

# %%
if not skipped:
    redundancy_rows = profiling.redundancy_table(by_h, prof.still_speed, seed=cfg.seed)
    worst = profiling.most_redundant([e for eps in by_h.values() for e in eps], prof.still_speed)
    make_env = functools.partial(evaluate.make_env, cfg, suite, seed=cfg.seed)
    frames = profiling.keyframes(policy, worst, make_env) if worst else None
    profiling.write_csv(redundancy_rows, f"{stem('fig1c_redundancy')}.csv")
    fig = figures.fig1c_redundancy(redundancy_rows, frames, title=f"{family} on {suite}")
    _ = figures.save_figure(fig, stem("fig1c_redundancy"))

# %%
None if skipped else pd.DataFrame(redundancy_rows).set_index("h").round(3)

# %% [markdown]
# ## Plan-tail error (deterministic plans on demonstration states)

# %%
if not skipped:
    data = sft.demo_dataset(cfg, family, suite, Path(demo_dir))
    tail = profiling.tail_error(policy, data, n=prof.tail_states, seed=cfg.seed)
    profiling.write_csv(profiling.tail_rows(tail), f"{stem('tail_error')}.csv")
    ax = pd.DataFrame(profiling.tail_rows(tail)).plot(x="position", y="mae", marker="o")

# %% [markdown]
# ## Metrics

# %%
if not skipped:
    result = {
        "facts": {
            "family": family,
            "suite": suite,
            "plan_horizon": H,
            "base_exec_len": base_h,
            "grid": grid,
            "tasks": len(cfg.bench(suite).task_list(suite)),
            **dataclasses.asdict(prof),
        },
        "sweep": sweep_rows,
        "reliable_exec_len": reliable_h,
        "variance": {**variance, "step_cv": step_cv},
        "redundancy": redundancy_rows,
        "keyframes": {k: v for k, v in frames.items() if k != "frames"} if frames else None,
        "tail_error": tail,
    }
    _ = Path(metrics_path).write_text(json.dumps(profiling.jsonable(result), indent=1) + "\n")

# %%
{"skipped": skipped} if skipped else {"reliable_exec_len": reliable_h, "step_cv": str(step_cv)}
