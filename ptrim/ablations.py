"""The ablations the paper leaves open (PAPER.md §6): what each part of PolicyTrim contributes.

Beside the main runs (``stage1`` = stage 1 only, ``policytrim`` = stage 1 + 2 with the paper's
``pattern`` ladder), the ``ablations`` stage trains, per model of ``ablation.models``:

=================  ===========================================================================
``stage2_only``    stage 2 from the behaviour-cloned policy at its base ``h`` (no stage 1)
``no_stability``   stage 1 + 2 without the group-anchored stability penalty (stage 2 retrained
                   from the same stage-1 weights with ``rl.stage2.use_stability: false``)
``frontier``       stage 1 with the ``frontier`` curriculum (ours, DESIGN.md §2.2) instead of
                   the ladder, evaluated at the horizon it hands over
=================  ===========================================================================

Every ablation is the main stage's code with one setting changed (:data:`ABLATIONS`), resumable
like it, and evaluated paired with the base, stage 1 and PolicyTrim on the same states and
seeds (:func:`ptrim.evaluate.paired`; the main policies' episodes come from the store).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Ablation:
    name: str
    description: str
    stage: Literal["stage1", "stage2"]  # the stage retrained
    start: Literal["bc", "stage1"]  # its input weights (stage 2 then runs at their horizon)
    overrides: tuple[str, ...] = ()  # settings changed against the main run


ABLATIONS: dict[str, Ablation] = {
    a.name: a
    for a in (
        Ablation(
            "stage2_only",
            "stage 2 only: from the behaviour-cloned policy at its base h",
            "stage2",
            "bc",
        ),
        Ablation(
            "no_stability",
            "stage 1 + 2 without the stability penalty",
            "stage2",
            "stage1",
            ("rl.stage2.use_stability=false",),
        ),
        Ablation(
            "frontier",
            "stage 1 with the frontier curriculum (ours) instead of the ladder",
            "stage1",
            "bc",
            ("rl.stage1.curriculum=frontier",),
        ),
    )
}
# the rows of the ablation table that the main runs already provide
MAIN_ROWS = {
    "policytrim": "stage 1 + 2 (PolicyTrim, ladder)",
    "stage1": "stage 1 only (ladder)",
}


def train(
    ablation: Ablation,
    profile: str | None,
    overrides: list[str],
    model: str,
    suite: str,
    *,
    sft_dir: str | Path,
    stage1_dir: str | Path,
    stage1_metrics: str | Path,
    profile_metrics: str | Path,
    out_dir: str | Path,
    live: Any = None,
    progress: bool = True,
):
    """Train one ablation of ``model`` on ``suite`` (or continue / return a finished run in
    ``out_dir``). Returns ``(Variant to evaluate, the trainer's result)``."""
    from ptrim import config, handover, models, trainer
    from ptrim.evaluate import Variant

    cfg = config.load(profile, [*overrides, *ablation.overrides])
    base = handover.baseline(cfg, model, profile_metrics)
    sft_final = Path(sft_dir) / "final"
    if ablation.stage == "stage1":
        policy = models.load(sft_final, device=cfg.device)
        result = trainer.train_stage1(
            policy,
            cfg,
            suite,
            out_dir,
            model_name=model,
            sr_base=base["success_rate"],
            start_h=base["reliable_exec_len"],
            live=live,
            progress=progress,
            restart_stale=True,  # DVC keeps the directory across reruns
        )
    else:
        if ablation.start == "bc":
            start, horizon = sft_final, base["exec_len"]
        else:
            stage1 = json.loads(Path(stage1_metrics).read_text())
            start, horizon = handover.stage2_start(stage1, sft_dir, stage1_dir)
        policy = models.load(start, device=cfg.device)
        result = trainer.train_stage2(
            policy,
            cfg,
            suite,
            out_dir,
            model_name=model,
            horizon=horizon,
            live=live,
            progress=progress,
            restart_stale=True,  # DVC keeps the directory across reruns
        )
    return Variant(ablation.name, Path(out_dir) / "final", int(result["horizon"])), result


def describe(name: str) -> str:
    """One line on a row of the ablation table."""
    if name in ABLATIONS:
        return ABLATIONS[name].description
    return MAIN_ROWS.get(name, name)


def _inputs(root: Path, pair: str) -> dict[str, Path]:
    """What an ablation of ``pair`` starts from, under ``root`` (the pipeline's layout)."""
    return {
        "sft_dir": root / "sft" / pair,
        "stage1_dir": root / "rl" / "stage1" / pair,
        "stage1_metrics": root / "metrics" / "stage1" / f"{pair}.json",
        "profile_metrics": root / "metrics" / "profile" / f"{pair}.json",
    }


def run_dir(data_root: str | Path, name: str, pair: str) -> Path:
    """Where the ``ablations`` stage trains ablation ``name`` of ``pair``."""
    return Path(data_root) / "rl" / "ablations" / name / pair


def train_into(
    name: str,
    profile: str | None,
    overrides: list[str],
    model: str,
    suite: str,
    *,
    data_root: str | Path = "data",
    progress: bool = True,
):
    """:func:`train` ablation ``name`` in :func:`run_dir`, logging to its ``live`` folder, as
    the ``ablations`` stage does: a run started here (``python -m ptrim.ablations``) is one the
    stage resumes, or finds finished."""
    from dvclive import Live

    if name not in ABLATIONS:
        raise ValueError(f"no ablation {name!r}; choose one of {sorted(ABLATIONS)}")
    pair = f"{model}-{suite}"
    out_dir = run_dir(data_root, name, pair)
    with Live(str(out_dir / "live"), dvcyaml=None, save_dvc_exp=False, resume=True) as live:
        return train(
            ABLATIONS[name],
            profile,
            overrides,
            model,
            suite,
            **_inputs(Path(data_root), pair),
            out_dir=out_dir,
            live=live,
            progress=progress,
        )


def run_pair(
    cfg,
    profile: str | None,
    overrides: list[str],
    model: str,
    suite: str,
    *,
    data_root: str | Path = "data",
    store_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Every ablation of ``cfg.ablation.variants`` for one model × suite, trained into
    ``<data_root>/rl/ablations/<name>/<model>-<suite>``, then the paired evaluation of the
    base, the main runs and the ablations (:func:`ptrim.evaluate.paired_report`, with each
    row's description under ``facts``)."""
    from ptrim import evaluate, handover

    root, pair = Path(data_root), f"{model}-{suite}"
    paths = _inputs(root, pair)
    main_runs = handover.main_runs(
        paths["stage1_dir"],
        paths["stage1_metrics"],
        root / "rl" / "stage2" / pair,
        root / "metrics" / "stage2" / f"{pair}.json",
    )
    variants = handover.evaluation_variants(cfg, model, paths["sft_dir"], main_runs)
    trained = {}
    for name in cfg.ablation.variants:
        variant, result = train_into(
            name, profile, overrides, model, suite, data_root=root, progress=progress
        )
        variants.append(variant)
        trained[name] = {k: result[k] for k in ("iteration", "finished", "horizon")}
    by_variant = evaluate.paired(variants, cfg, suite, store_root=store_dir, progress=progress)
    report = evaluate.paired_report(by_variant, seed=cfg.seed)
    report["facts"] = {
        "family": model,
        "suite": suite,
        "variants": [
            {
                "name": v.name,
                "weights": str(v.weights),
                "exec_len": v.exec_len,
                "description": describe(v.name),
            }
            for v in variants
        ],
        "trained": trained,
    }
    return report


def main(argv: list[str] | None = None) -> None:
    """Train one ablation where the ``ablations`` stage will find it, so ablations can run in
    separate processes (each stage-length) while the stage itself only evaluates."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ptrim.ablations",
        description="train one ablation into data/rl/ablations/<name>/<model>-<suite>",
    )
    parser.add_argument("name", choices=sorted(ABLATIONS))
    parser.add_argument("pair", help="MODEL-SUITE, e.g. pi05-libero_object")
    parser.add_argument("--profile", default=None, help="params.yaml profile (default: its own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args(argv)
    model, sep, suite = args.pair.partition("-")
    if not sep or not suite:
        parser.error(f"pair {args.pair!r} is not MODEL-SUITE")
    _, result = train_into(
        args.name, args.profile, args.overrides, model, suite, data_root=args.data_root
    )
    state = "finished" if result["finished"] else "not finished"
    print(f"{args.name} {args.pair}: iteration {result['iteration']} ({state})")


if __name__ == "__main__":
    main()
