"""The ``sft@<model>-<suite>`` stage: behaviour cloning on our demonstrations, then a quick
evaluation at the family's base execution length.

Everything lands in ``out_dir`` (``data/sft/<model>-<suite>/``): ``checkpoints/`` and ``final/``
(:mod:`ptrim.bc`, resumable), ``live/`` (dvclive), ``eval_episodes.jsonl``; the metrics go to
``data/metrics/sft/<model>-<suite>.json`` (:func:`ptrim.evaluate.report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ptrim import bc
from ptrim.data import ChunkDataset


def skip_reason(cfg, family: str, suite: str) -> str | None:
    """Why the active profile does not train ``family`` on ``suite`` (None if it does)."""
    return cfg.untrained_reason(family, suite)


def build_policy(
    cfg, family: str, suite: str, *, action_dim: int | None = None, proprio_dim: int | None = None
):
    """A fresh model for ``models.<family>`` (a family, or a variant such as ``oft_h16``) at
    the profile's preset and horizon, with the cameras and image size of ``suite``'s benchmark
    and its action/proprio widths (defaults: the model's, LIBERO's 7 and 8)."""
    from ptrim.models import build

    m, bench = cfg.models[family], cfg.bench(suite)
    dims = {"action_dim": action_dim, "proprio_dim": proprio_dim}
    torch.manual_seed(cfg.seed)
    return build(
        cfg.family_of(family),
        m.preset,
        m.plan_horizon,
        cameras=tuple(bench.cameras),
        image_size=bench.image_size,
        label_sigma=m.label_sigma,  # validated at load: nonzero for openvla only
        proprio_token=m.proprio_token,  # likewise: true for openvla only
        **{k: v for k, v in dims.items() if v is not None},
    ).to(cfg.device)


def demo_dataset(cfg, family: str, suite: str, demo_dir: Path) -> ChunkDataset:
    """Action chunks of the model's horizon from the profile's tasks' demonstration files,
    without the steps of the redundancy events the model's ``skip_events`` (else
    ``bc.skip_events``) names."""
    bench = cfg.bench(suite)
    paths = [Path(demo_dir) / f"{task}_demo.hdf5" for task in bench.task_list(suite)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no demonstrations recorded for {missing} (run the demos stage)")
    return ChunkDataset(
        paths,
        horizon=cfg.models[family].plan_horizon,
        cameras=tuple(bench.cameras),
        image_size=bench.image_size,
        skip_events=cfg.bc_of(family).skip_events,
    )


def train(cfg, family: str, suite: str, demo_dir: Path, out_dir: Path, progress: bool = True):
    """Behaviour cloning (resumes from ``out_dir``'s last checkpoint if the same run wrote it,
    else starts over: :func:`ptrim.bc.train`'s ``restart_stale``); returns the trained
    policy, :func:`ptrim.bc.train`'s result and the dataset (every demo, for plots)."""
    from dvclive import Live

    data = demo_dataset(cfg, family, suite, demo_dir)
    policy = build_policy(
        cfg, family, suite, action_dim=data.action_dim, proprio_dim=data.proprio_dim
    )
    policy.normalizer.set_stats(data.stats())
    subset = bc.select_demos(data, cfg.bc.demos_per_task)
    with Live(str(Path(out_dir) / "live"), dvcyaml=None, save_dvc_exp=False, resume=True) as live:
        result = bc.train(
            policy,
            subset,
            cfg.bc_of(family),
            out_dir,
            seed=cfg.seed,
            device=cfg.device,
            live=live,
            progress=progress,
            restart_stale=True,  # DVC keeps the directory across reruns
        )
    return policy.eval(), result, data


def quick_eval(cfg, policy, family: str, suite: str, progress: bool = True, store=None) -> list:
    """Every profile task from its first ``bc.eval_init_states`` initial states at the family's
    base execution length, deterministic plans. Given the evaluate stage's ``store``
    (:func:`ptrim.evaluate.policy_store`), a killed evaluation resumes and the paired
    evaluation later finds the base policy's episodes there when it uses the same states."""
    from ptrim.evaluate import evaluate

    return evaluate(
        policy,
        cfg,
        suite,
        exec_len=cfg.models[family].exec_len,
        init_states=range(cfg.bc.eval_init_states),
        seed=cfg.seed,
        progress=progress,
        store=store,
    )


def predicted_vs_demo(
    policy, data: ChunkDataset, n: int = 3, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` dataset samples with the policy's deterministic plan beside the demonstrated chunk
    (both ``[H, 7]`` numpy, raw action units) for plotting."""
    from ptrim.data import collate

    g = torch.Generator().manual_seed(seed)
    picks = torch.randperm(len(data), generator=g)[:n].tolist()
    batch = collate([data[i] for i in picks])
    gens = [torch.Generator().manual_seed(seed + i) for i in range(n)]
    plan = policy.plan(batch, sample=False, generator=gens)
    return [
        {
            "instruction": batch["instruction"][i],
            "planned": plan.actions[i],
            "demo": batch["actions"][i].numpy(),
            "mask": batch["action_mask"][i].numpy(),
        }
        for i in range(n)
    ]
