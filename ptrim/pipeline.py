"""The stages of ``dvc.yaml`` the active profile actually trains, in an order that respects the
DAG. DVC builds its stage matrix from every model × suite (it cannot read the profile), so on
small profiles most generated stages are untrained pairs; ``dvc repro --single-item $(python -m
ptrim.pipeline stages)`` runs only the profile's own.

``python -m ptrim.pipeline stages [--profile P]`` prints them, one per line.

DVC cannot pick a dependency list per generated stage, so ``dvc.yaml``'s ``vars`` hold one
table row per suite and per model × suite naming the benchmark (whose ``params.yaml`` section
the stage reads), its adapter and expert files, and the model's own family module
(``model_code``): a pair's stages depend on the shared model files plus that one, so editing
one family's architecture leaves the other families' trained stages up to date.
``python -m ptrim.pipeline vars`` prints the table ``dvc.yaml`` must hold (a test compares them).
"""

from __future__ import annotations

import argparse

from ptrim.envs import registry

PAIR_STAGES = ("sft", "profile", "stage1", "stage2", "evaluate")
# dvc.yaml's order: LIBERO-Object first (the suite every profile trains on)
DEMO_SUITES = ("libero_object", "libero_spatial", "libero_goal", "libero_10") + tuple(
    s for s in registry.ALL_SUITES if not s.startswith("libero_")
)


# per benchmark: the adapter and the one other file its stages read (LIBERO's low-poly meshes,
# ManiSkill's renderer check; Meta-World has none, so its adapter is named twice) and the expert
BENCHMARK_CODE = {
    "libero": ("ptrim/envs/libero.py", "ptrim/envs/lowpoly.py", "ptrim/experts/libero.py"),
    "metaworld": (
        "ptrim/envs/metaworld.py",
        "ptrim/envs/metaworld.py",
        "ptrim/experts/metaworld.py",
    ),
    "maniskill": (
        "ptrim/envs/maniskill.py",
        "ptrim/envs/maniskill_setup.py",
        "ptrim/experts/maniskill.py",
    ),
}


def suite_row(suite: str) -> dict[str, str]:
    bench = registry.benchmark_of(suite)
    env, env_extra, expert = BENCHMARK_CODE[bench]
    return {"bench": bench, "env": env, "env_extra": env_extra, "expert": expert}


def family_module(family: str) -> str:
    """The file that defines ``family``'s architecture (the rest of ``ptrim/models`` is shared)."""
    return f"ptrim/models/{family}.py"


def dvc_vars(families: dict[str, str]) -> dict[str, dict]:
    """``{"suites": {suite: row}, "pairs": {"<model>-<suite>": row}}`` over every suite of
    every benchmark (``DEMO_SUITES`` order) and the models of ``families`` (``{model: its
    family}``)."""
    suites = {s: suite_row(s) for s in DEMO_SUITES}
    pairs = {
        f"{m}-{s}": {
            "model": m,
            "suite": s,
            **{k: v for k, v in row.items() if k != "expert"},
            "model_code": family_module(family),
        }
        for s, row in suites.items()
        for m, family in families.items()
    }
    return {"suites": suites, "pairs": pairs}


def stages(cfg) -> list[str]:
    """``envcheck``, the demos of every suite the profile records or measures, ``experts``, the
    per-pair stages of every model × suite the profile trains (:meth:`Config.untrained_reason`),
    then ``table2`` (ManiSkill and Meta-World, which waits for no LIBERO result), ``ablations``,
    ``figures`` and last ``index`` (``paper_figures/README.md``, which reads what they wrote).
    A stage a model skips (``rl.model_stages``) stays listed: it writes the record the next
    stage reads (stage 2 of OpenVLA starts from the base h named by stage 1's skip record)."""
    recorded = set(cfg.suites()) | set(cfg.demos.expert_suites)
    out = ["envcheck", *[f"demos@{s}" for s in DEMO_SUITES if s in recorded], "experts"]
    pairs = [
        (m, s) for m in cfg.families for s in cfg.suites() if cfg.untrained_reason(m, s) is None
    ]
    for stage in PAIR_STAGES:
        out += [f"{stage}@{model}-{suite}" for model, suite in pairs]
    return [*out, "table2", "ablations", "figures", "index"]


def main(argv: list[str] | None = None) -> None:
    from ptrim import config

    parser = argparse.ArgumentParser(
        prog="python -m ptrim.pipeline", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["stages", "vars"])
    parser.add_argument("--profile", default=None, help="default: the one params.yaml names")
    args = parser.parse_args(argv)
    cfg = config.load(args.profile)
    if args.command == "vars":
        print(render_vars(dvc_vars({m: cfg.family_of(m) for m in cfg.models})), end="")
    else:
        print("\n".join(stages(cfg)))


def render_vars(table: dict[str, dict]) -> str:
    """``dvc.yaml``'s ``vars`` block: one flow-style row per line."""
    lines = ["vars:"]
    for name, rows in table.items():
        lines.append(f"  - {name}:")
        for key, row in rows.items():
            cells = ", ".join(f"{k}: {v}" for k, v in row.items())
            lines.append(f"      {key}: {{{cells}}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
