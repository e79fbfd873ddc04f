"""``paper_figures/README.md``: every file in ``paper_figures/`` with one line on what it shows
and how it differs from the paper, generated from what is on disk (a file nobody described is
listed as such, so the index cannot silently fall behind). The `index` stage runs
``python -m ptrim.catalog paper_figures`` after every stage that writes there."""

from __future__ import annotations

import argparse
import fnmatch
from pathlib import Path

# (glob relative to paper_figures/, what it shows, how it differs from the paper)
ENTRIES: tuple[tuple[str, str, str], ...] = (
    (
        "table1_libero.*",
        "Table 1: SR / steps / h / Spd of base and PolicyTrim per LIBERO suite and model, "
        "ours beside the paper's (PNG/PDF: steps and Spd as bars)",
        "small models trained here by behaviour cloning on our experts' demos, not the released "
        "checkpoints; fewer evaluation episodes (see the scale column); stage 2's step budget "
        "on LIBERO-Object is 210 (the paper's 150 is below our base policies' 157-172 steps)",
    ),
    (
        "table2_maniskill_metaworld.*",
        "Table 2: SR / steps / h / Spd of base and PolicyTrim on ManiSkill3 and Meta-World, "
        "ours beside the paper's (PNG/PDF: steps and Spd as bars; the `table2` stage)",
        "the paper's ManiSkill scenes (PutOnPlateInScene25) need downloads: ours are ManiSkill3 "
        "tasks that need none; our Meta-World set is the profile's (MT10 by default)",
    ),
    (
        "table2_per_task.*",
        "Table 2 per task: success and steps to success of the base and PolicyTrim on each "
        "Meta-World and ManiSkill3 task",
        "the paper gives no per-task numbers; the ManiSkill3 tasks listed are the ones standing "
        "in for its PutOnPlateInScene25 scenes",
    ),
    (
        "table_generality.*",
        "OFT with a 16-action chunk (stage 1 + 2) and OpenVLA (stage 2 only)",
        "the paper's rows are LIBERO-Spatial; ours are on the suites the profile trains",
    ),
    (
        "table_ablation.*",
        "ablations: stage 1 only, stage 2 only, no stability penalty, pattern vs frontier",
        "the paper publishes no ablation table; every number is ours",
    ),
    (
        "profile/*/fig1a_step_variance_*",
        "Fig. 1a: steps of repeated sampled rollouts from the same initial states, per task",
        "our behaviour-cloned policy; the paper shows π0.5",
    ),
    (
        "profile/*/fig1b_exec_length_*",
        "Fig. 1b: success and steps against forced execution length h, 95 % bands; the paper's "
        "π0.5 curve on a twin panel",
        "the paper's curve is read off its plot (LIBERO-Spatial, no intervals)",
    ),
    (
        "profile/*/fig1c_redundancy_*",
        "Fig. 1c: measured redundancy (nearly-still and re-grasp steps, path ratio) against h, "
        "with frames of the most redundant episode",
        "the paper illustrates redundancy with frames only; here it is measured",
    ),
    (
        "profile/*/tail_error_*",
        "plan-tail error: deterministic plan vs demonstrated actions per plan position",
        "not in the paper (it motivates stage 1)",
    ),
    (
        "profile/*/README.md",
        "why a model × suite pair was not profiled",
        "—",
    ),
    (
        "evaluate/*/paired_*",
        "paired evaluation: success, steps, calls and episode time of base, stage 1 and "
        "PolicyTrim with 95 % intervals",
        "the paper reports points without intervals",
    ),
    (
        "evaluate/*/fig3_keyframes_*",
        "Fig. 3: the same initial state, base vs stage 1 vs PolicyTrim, keyframes until the end",
        "the state with the median step saving (representative), not a hand-picked one",
    ),
    (
        "evaluate/*/README.md",
        "why a model × suite pair was not evaluated",
        "—",
    ),
    (
        "curves/*",
        "RL training curves of stage 1 and stage 2 (success per h, steps, rewards, PPO, "
        "wall-time split)",
        "the paper shows no training curves",
    ),
    (
        "scaling.*",
        "rollout throughput measured with the local backend and 1 and 2 Ray workers, and the "
        "iteration time projected from it for 8–128 workers (CPU and GPU learner); written by "
        "`python -m ptrim.bench scale`, not by `dvc repro`",
        "not in the paper (its stack, RLinf, ran on a multi-GPU node with Ray); the projection "
        "is arithmetic from per-worker numbers, not a measurement at that scale",
    ),
    ("README.md", "this index", "—"),
)


def describe(relative: str) -> tuple[str, str] | None:
    """(what it shows, difference from the paper) of a file under ``paper_figures/``."""
    for pattern, what, differs in ENTRIES:
        if fnmatch.fnmatch(relative, pattern):
            return what, differs
    return None


def files(root: str | Path) -> list[str]:
    """Every file under ``root``, relative, sorted (hidden files left out)."""
    root = Path(root)
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def readme(root: str | Path) -> str:
    """The index as Markdown: one table row per file (the README itself included)."""
    names = sorted(set(files(root)) | {"README.md"})
    lines = [
        "# paper_figures",
        "",
        "Generated by the `index` stage (`python -m ptrim.catalog paper_figures`), after every",
        "stage that writes here:",
        "every table and figure here comes out of `dvc repro` (except `scaling.*`, a benchmark's:",
        "`python -m ptrim.bench scale`). Tables come as CSV (every number",
        "with its 95 % interval), Markdown and LaTeX; figures as PNG and PDF, with the plotted",
        "numbers as CSV.",
        "",
        "| file | what it shows | how it differs from the paper |",
        "| --- | --- | --- |",
    ]
    for name in names:
        what, differs = describe(name) or ("**not described** (add it to ptrim/catalog.py)", "")
        lines.append(f"| `{name}` | {what} | {differs} |")
    return "\n".join(lines) + "\n"


def undescribed(root: str | Path) -> list[str]:
    """Files under ``root`` no entry describes."""
    return [n for n in files(root) if describe(n) is None]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ptrim.catalog", description="write <root>/README.md, the index"
    )
    parser.add_argument("root", help="the folder to index, e.g. paper_figures")
    root = Path(parser.parse_args(argv).root)
    if not root.is_dir():
        raise SystemExit(f"no folder {root} to index")
    (root / "README.md").write_text(readme(root))
    missing = undescribed(root)
    print(f"{root / 'README.md'}: {len(files(root))} files", end="")
    print(f"; not described (add them to ptrim/catalog.py): {missing}" if missing else "")


if __name__ == "__main__":
    main()
