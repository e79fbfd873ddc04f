#!/bin/bash
# How oft's step reduction on LIBERO-Object grows with stage-2 iterations (issue 7 asks steps
# <= 0.8x the base's). Outside DVC: continues the `default` profile's stage2@oft-libero_object
# run (data/rl/stage2/oft-libero_object, 20 iterations) to each count in ITERATIONS, one copy per
# count (the iteration count is not part of a run's identity, so the trainer resumes), and after
# each runs the paired evaluation against the same base episodes (data/cache/evaluate, so only
# the new policy is played). Needs `dvc repro stage2@oft-libero_object` done first.
#
#   bash benchmarks/oft_stage2_iterations.sh [OUT_DIR] [ITERATIONS...]
#   (defaults: /tmp/oft_stage2_iterations 40 60; one torch and one llvmpipe thread, so another
#   1-thread stage can run beside it; ~2.7 min per iteration + 11 min per evaluation here)
#
# Writes OUT_DIR/summary.json: per count, the paired comparison (steps ratio, success
# difference, call speed-up, with intervals). benchmarks/oft_stage2_iterations_cpu2.json is
# its output from 2026-12-07 (Intel Xeon, 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH OMP_NUM_THREADS=1 LP_NUM_THREADS=1
OUT=${1:-/tmp/oft_stage2_iterations}; shift || true
ITERATIONS=${*:-40 60}
PAIR=oft-libero_object FAMILY=oft SUITE=libero_object
source benchmarks/stage2_lib.sh
mkdir -p "$OUT"
previous=data/rl/stage2/$PAIR
for n in $ITERATIONS; do
  run=$OUT/stage2_$n
  [ -d "$run" ] || cp -r "$previous" "$run"
  stage2_run "$run" "$OUT/stage2_$n.json" "$OUT/oft_iterations_stage2_$n.ipynb" \
    "[\"rl.stage2.iterations=$n\"]"
  stage2_evaluate "$run" "$OUT/stage2_$n.json" "$OUT/policytrim_$n.json" \
    "$OUT/oft_iterations_evaluate_$n.ipynb" "$OUT/figures_$n"
  previous=$run
done
python - "$OUT" $ITERATIONS <<'EOF'
import json, sys
from pathlib import Path
out, counts = Path(sys.argv[1]), sys.argv[2:]
files = {"20": Path("data/metrics/policytrim/oft-libero_object.json")}  # the committed run
files.update({n: out / f"policytrim_{n}.json" for n in counts})
summary = {"pair": "oft-libero_object", "paired_episodes": 200}
for n, path in files.items():
    d = json.loads(path.read_text())
    row = {k: d["compare"]["policytrim"][k] for k in ("steps_ratio", "sr_diff", "call_speedup")}
    row.update({f"{v}_{k}": d[v][k] for v in ("base", "policytrim") for k in ("success_rate", "steps")})
    summary[f"iterations_{n}"] = row
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps({n: summary[f"iterations_{n}"]["steps_ratio"] for n in files}, indent=1))
EOF
