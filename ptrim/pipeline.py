"""The stages of ``dvc.yaml`` the active profile actually trains, in an order that respects the
DAG. DVC builds its stage matrix from every model × suite (it cannot read the profile), so on
small profiles most generated stages are untrained pairs; ``dvc repro --single-item $(python -m
ptrim.pipeline stages)`` runs only the profile's own.

``python -m ptrim.pipeline stages [--profile P]`` prints them, one per line.
"""

from __future__ import annotations

import argparse

PAIR_STAGES = ("sft", "profile", "stage1", "stage2", "evaluate")
DEMO_SUITES = ("libero_object", "libero_spatial", "libero_goal", "libero_10")  # dvc.yaml order


def stages(cfg) -> list[str]:
    """``envcheck``, the demos of every suite the profile records or measures, ``experts``, the
    per-pair stages of ``families`` × ``libero.suites``, then ``ablations`` and ``figures``.
    A stage a model skips (``rl.model_stages``) stays listed: it writes the record the next
    stage reads (stage 2 of OpenVLA starts from the base h named by stage 1's skip record)."""
    recorded = set(cfg.libero.suites) | set(cfg.demos.expert_suites)
    out = ["envcheck", *[f"demos@{s}" for s in DEMO_SUITES if s in recorded], "experts"]
    pairs = [(m, s) for m in cfg.families for s in cfg.libero.suites]
    for stage in PAIR_STAGES:
        out += [f"{stage}@{model}-{suite}" for model, suite in pairs]
    return [*out, "ablations", "figures"]


def main(argv: list[str] | None = None) -> None:
    from ptrim import config

    parser = argparse.ArgumentParser(
        prog="python -m ptrim.pipeline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["stages"])
    parser.add_argument("--profile", default=None, help="default: the one params.yaml names")
    args = parser.parse_args(argv)
    print("\n".join(stages(config.load(args.profile))))


if __name__ == "__main__":
    main()
