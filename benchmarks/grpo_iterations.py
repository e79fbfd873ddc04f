"""Per-iteration GRPO times of the real trainer on each device: stage-1 iterations of every
family at ``micro`` size on a fake reach task (no simulator, so it runs on a bare GPU machine).

    python benchmarks/grpo_iterations.py [cpu] [cuda] [--iterations 3] [--json out.json]

Prints, per family × device × precision, the mean of ``time/update_s`` (the PPO update) and
``time/interact_s`` (rollouts: policy calls + the fake env) over the iterations after the first
(which pays one-off set-up), the chunks trained, and the first iteration's PPO ratio (1 when
sampling and scoring agree)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ptrim import config, stages, trainer  # noqa: E402
from ptrim.models import build  # noqa: E402
from tests.fakes import ReachEnv  # noqa: E402

FAMILIES = {"pi05": 20, "oft": 8, "gr00t": 16, "openvla": 1}


def run(family: str, device: str, precision: str, iterations: int) -> dict:
    torch.manual_seed(0)
    H = FAMILIES[family]
    policy = build(family, "micro", H, image_size=64, cameras=("agentview", "wrist"))
    rl = config.RLConfig(
        group_size=8, groups_per_iter=4, init_states=4, micro_batch=32, precision=precision,
        lr={family: 1e-4}, checkpoint_every=1000,
    )  # fmt: skip
    curriculum = stages.make_curriculum(rl.stage1, H, start_h=None, sr_base=0.5)
    stage = stages.Stage1(curriculum, h_base=rl.stage1.h_base[family], lam_plan=1.0,
                          sr_base=0.5, tolerance=0.05)  # fmt: skip

    def env(task):
        goals = {0: 0.3, 1: 0.6, 2: 0.9, 3: 1.2}
        return ReachEnv(goals, max_steps=40, task=task, image_size=64, proprio_dim=8,
                        action_dim=7, cameras=("agentview", "wrist"))  # fmt: skip

    with tempfile.TemporaryDirectory() as out:
        history = trainer.GRPOTrainer(
            policy, stage, rl, family=family, tasks=["a", "b"], env_factory=env,
            iterations=iterations, out_dir=out, seed=0, device=device, num_envs=8,
            progress=False,
        ).run()["history"]  # fmt: skip
    later = history[1:] or history
    return {
        "family": family,
        "device": device,
        "precision": precision,
        "update_s": float(np.mean([e["time/update_s"] for e in later])),
        "interact_s": float(np.mean([e["time/interact_s"] for e in later])),
        "chunks": float(np.mean([e["train/chunks"] for e in later])),
        "first_ratio": history[0]["train/ratio_mean"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("devices", nargs="*", default=["cpu"])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also rl.precision=bf16")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    print(f"{'family':<8} {'device':<5} {'prec':<5} {'update':>8} {'interact':>9} {'chunks':>7}"
          f" {'ratio0':>7}")  # fmt: skip
    for family in FAMILIES:
        for device in args.devices:
            for precision in ["fp32"] + ["bf16"] * args.bf16:
                r = run(family, device, precision, args.iterations)
                rows.append(r)
                print(f"{family:<8} {device:<5} {precision:<5} {r['update_s']:>7.3f}s"
                      f" {r['interact_s']:>8.3f}s {r['chunks']:>7.0f} {r['first_ratio']:>7.4f}",
                      flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
