"""What the two RL stage notebooks read and write around :mod:`ptrim.trainer`.

Stage 1 starts from the behaviour-cloned policy and the profiling stage's numbers (the base
success rate at the family's default ``h`` and the largest reliable ``h``); stage 2 starts from
stage 1's weights at the horizon stage 1 chose — or, when stage 1 is ablated
(``rl.stages: [stage2]``), from the behaviour-cloned weights at the base ``h``. The metrics files
written here are the hand-over between the stages: ``data/metrics/stage1/<model>-<suite>.json``
always names the horizon stage 2 must use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def skip_stage(cfg, stage: str, model: str) -> str | None:
    """Why the profile does not run ``stage`` (``stage1`` | ``stage2``) for ``model``, or None."""
    if stage in cfg.stages_of(model):
        return None
    if model in cfg.rl.model_stages:
        return f"{model} runs only rl.model_stages.{model} = {list(cfg.stages_of(model))}"
    return f"{stage} is not in this profile's rl.stages {list(cfg.rl.stages)} (ablation)"


def baseline(cfg, model: str, profile_metrics: str | Path) -> dict[str, Any]:
    """The behaviour-cloned policy as profiling measured it: ``exec_len`` (the family's base
    h), ``success_rate`` there (a fraction) and ``reliable_exec_len`` (largest h whose success
    holds within ``profiling.epsilon`` of the best)."""
    path = Path(profile_metrics)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no profiling metrics (run the profile stage first)")
    profile = json.loads(path.read_text())
    if "skipped" in profile:
        raise ValueError(f"{path}: profiling was skipped ({profile['skipped']})")
    base_h = cfg.models[model].exec_len
    rows = {int(r["h"]): r for r in profile["sweep"]}
    if base_h not in rows:
        raise ValueError(f"{path}: the sweep has no row at the base h = {base_h} ({sorted(rows)})")
    return {
        "exec_len": base_h,
        "success_rate": float(rows[base_h]["success_rate"]),
        "reliable_exec_len": int(profile["reliable_exec_len"]),
    }


def stage1_inputs(
    cfg, model: str, suite: str, profile_metrics: str | Path
) -> tuple[str | None, dict[str, Any] | None]:
    """``(why stage 1 does not run or None, baseline)``. The baseline is read whenever
    ``model`` is trained on ``suite``, also when stage 1 is ablated: the skipped record still
    names the base ``h`` that stage 2 then starts from."""
    from ptrim.sft import skip_reason

    untrained = skip_reason(cfg, model, suite)
    base = None if untrained else baseline(cfg, model, profile_metrics)
    return untrained or skip_stage(cfg, "stage1", model), base


def skipped(reason: str, base: dict[str, Any] | None) -> dict[str, Any]:
    """Stage-1 metrics when stage 1 does not run: stage 2 then uses the base h."""
    return {"skipped": reason, "horizon": base["exec_len"] if base else None, "base": base}


def stage1_summary(result: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The committed stage-1 metrics: the chosen horizon and the evidence for it."""
    history = result["history"]
    return {
        "horizon": result["horizon"],
        "base": base,
        "per_horizon_success": result["per_horizon_success"],
        "tolerance": result["tolerance"],
        "frontier_history": result["frontier_history"],
        "iterations": result["iteration"],
        "finished": result["finished"],
        "wall_s": history[-1]["wall_s"] if history else 0.0,
        "last": history[-1] if history else None,
    }


def stage2_start(
    stage1_metrics: dict[str, Any], sft_dir: str | Path, stage1_dir: str | Path
) -> tuple[Path, int]:
    """(weights directory, horizon) for stage 2: stage 1's final weights at its horizon, or the
    behaviour-cloned weights at the base h when stage 1 was skipped."""
    horizon = stage1_metrics.get("horizon")
    if horizon is None:
        raise ValueError(f"stage-1 metrics name no horizon: {stage1_metrics}")
    if "skipped" in stage1_metrics:
        return Path(sft_dir) / "final", int(horizon)
    return Path(stage1_dir) / "final", int(horizon)


def stage2_summary(result: dict[str, Any], horizon: int, start: str | Path) -> dict[str, Any]:
    """The committed stage-2 metrics."""
    history = result["history"]
    return {
        "horizon": horizon,
        "start": str(start),
        "iterations": result["iteration"],
        "finished": result["finished"],
        "wall_s": history[-1]["wall_s"] if history else 0.0,
        "last": history[-1] if history else None,
    }


def main_runs(
    stage1_dir: str | Path,
    stage1_metrics: str | Path,
    stage2_dir: str | Path,
    stage2_metrics: str | Path,
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The main runs :func:`evaluation_variants` compares with the base: ``stage1`` (stage 1
    only) and ``policytrim`` (stage 1 + 2), each its run directory and committed metrics."""
    return {
        "stage1": (Path(stage1_dir), json.loads(Path(stage1_metrics).read_text())),
        "policytrim": (Path(stage2_dir), json.loads(Path(stage2_metrics).read_text())),
    }


def evaluation_variants(
    cfg,
    model: str,
    sft_dir: str | Path,
    stage_runs: dict[str, tuple[str | Path, dict[str, Any]]],
):
    """The policies the paired evaluation compares: ``base`` (the behaviour-cloned weights at
    the family's base h), then each entry of ``stage_runs`` (``{name: (run directory, its
    committed stage metrics)}``, e.g. ``stage1`` and ``policytrim`` = stage 1 + 2) that ran,
    at the horizon its metrics name. Skipped stages (ablations) are left out."""
    from ptrim.evaluate import Variant

    out = [Variant("base", Path(sft_dir) / "final", cfg.models[model].exec_len)]
    for name, (run_dir, stage_metrics) in stage_runs.items():
        if "skipped" in stage_metrics:
            continue
        if stage_metrics.get("horizon") is None:
            raise ValueError(f"{name}: its stage metrics name no horizon: {stage_metrics}")
        out.append(Variant(name, Path(run_dir) / "final", int(stage_metrics["horizon"])))
    return out
