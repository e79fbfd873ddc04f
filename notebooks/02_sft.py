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
# # 02 · Behaviour cloning (SFT)
# One VLA family learns one suite from our expert demonstrations (`ptrim/bc.py`: AdamW, warm-up
# and cosine decay, resumable bit-exactly), then a quick evaluation at the family's base
# execution length writes `data/metrics/sft/<model>-<suite>.json` (metrics with 95 % intervals).
# A profile that does not train this family on this suite records why and stops there.

# %% tags=["parameters"]
profile = None  # None: the profile chosen in params.yaml
overrides = []  # in the syntax of --set on ptrim command lines
family = "oft"
suite = "libero_object"
demo_dir = "data/demos/libero_object"
out_dir = "data/sft/oft-libero_object"
metrics_path = "data/metrics/sft/oft-libero_object.json"
store_dir = None  # finished evaluation episodes (outside DVC outputs): resumes, and the
# evaluate stage reuses the base policy's episodes from the same store

# %%
import json
from pathlib import Path

from ptrim import config, evaluate, figures, sft

cfg = config.load(profile, overrides)
skipped = sft.skip_reason(cfg, family, suite)
Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
Path(out_dir).mkdir(parents=True, exist_ok=True)
if skipped:
    _ = Path(metrics_path).write_text(json.dumps({"skipped": skipped}, indent=1) + "\n")
print(skipped or f"{family} on {suite}: {cfg.models[family]}, {cfg.bc}")

# %% [markdown]
# ## Training

# %%
if not skipped:
    policy, trained, data = sft.train(cfg, family, suite, Path(demo_dir), Path(out_dir))
    n_params = sum(p.numel() for p in policy.parameters())
    print(
        f"{n_params / 1e6:.2f}M parameters; {trained['step']} steps "
        f"(resumed from {trained['resumed_from']}); weights: {trained['final']}"
    )
    fig = figures.loss_curve(trained["history"], title=f"{family} on {suite}")

# %% [markdown]
# ## Planned vs demonstrated chunks (training samples, deterministic plans)

# %%
if not skipped:
    fig = figures.planned_vs_demo(sft.predicted_vs_demo(policy, data, n=3, seed=cfg.seed))

# %% [markdown]
# ## Quick evaluation at the base execution length

# %%
if not skipped:
    store = evaluate.policy_store(store_dir, policy, cfg, suite) if store_dir else None
    episodes = sft.quick_eval(cfg, policy, family, suite, store=store)
    evaluate.save_episodes(episodes, Path(out_dir) / "eval_episodes.jsonl")
    result = evaluate.report(
        episodes,
        seed=cfg.seed,
        family=family,
        preset=cfg.models[family].preset,
        train_steps=trained["step"],
        demos_per_task=cfg.bc.demos_per_task,
    )
    _ = Path(metrics_path).write_text(json.dumps(result, indent=1) + "\n")
    fig = figures.task_success(
        result["per_task"], title=f"{family} on {suite}, h = {cfg.models[family].exec_len}"
    )

# %%
headline = ("success_rate", "steps", "calls", "exec_len", "latency_ms")
{"skipped": skipped} if skipped else {k: result[k] for k in headline}
