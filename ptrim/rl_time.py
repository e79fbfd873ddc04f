"""Where an RL stage's wall time went (issue 7 asks for the share spent in simulation, target
>= 70 %: on CPU the policy and the update should not be the bottleneck).

    python -m ptrim.rl_time data/rl/stage1/oft-metaworld_mt10 data/rl/stage2/...

reads each run's ``history.json`` (:meth:`ptrim.trainer.Trainer.log` writes one entry per
iteration) and splits its training wall time (``wall_s`` of the last iteration) into
simulation (env stepping and rendering, ``time/sim_s``; rendering alone ``time/render_s``),
policy inference (``time/policy_s``), the PPO update (``time/update_s``), weight sync and
scoring, and the rest (environment building, bookkeeping between these).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PARTS = {
    "sim": "time/sim_s",
    "render": "time/render_s",  # part of sim
    "policy": "time/policy_s",
    "update": "time/update_s",
    "sync": "time/sync_s",
    "score": "time/score_s",
}


def shares(history: list[dict]) -> dict[str, float]:
    """``{"wall_s": total, "<part>_s": seconds, "<part>": share of wall_s}`` over a run's
    iterations; ``other`` is what none of the parts covers (sim includes render)."""
    if not history:
        raise ValueError("empty history: the run logged no iteration")
    wall = float(history[-1]["wall_s"])
    out: dict[str, float] = {"wall_s": wall}
    for name, key in PARTS.items():
        out[f"{name}_s"] = sum(float(h.get(key, 0.0)) for h in history)
    covered = sum(out[f"{n}_s"] for n in PARTS if n != "render")
    out["other_s"] = wall - covered
    for name in [*PARTS, "other"]:
        out[name] = out[f"{name}_s"] / wall if wall > 0 else float("nan")
    return out


def format_row(name: str, s: dict[str, float]) -> str:
    return (
        f"{name:<40} {s['wall_s'] / 60:7.1f} min  sim {s['sim']:6.1%} (render {s['render']:6.1%})"
        f"  policy {s['policy']:6.1%}  update {s['update']:6.1%}  other {s['other']:6.1%}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ptrim.rl_time", description=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="RL output directories")
    args = parser.parse_args(argv)
    for run in args.runs:
        path = run / "history.json"
        if not path.exists():
            raise SystemExit(f"{path}: no such file (not an RL output directory, or not started)")
        print(format_row(str(run), shares(json.loads(path.read_text()))))


if __name__ == "__main__":
    main()
