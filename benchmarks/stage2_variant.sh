#!/bin/bash
# One stage-2 setting tried outside DVC: trains stage 2 from the pipeline's stage-2 input with
# the `default` profile plus OVERRIDES (params keys, ptrim's --set syntax), then runs the paired
# evaluation against the pipeline's base episodes (data/cache/evaluate: only the new policy is
# played). Needs `dvc repro stage1@PAIR` (or, for models without stage 1, the sft stage) and one
# evaluate@PAIR run first. Resumable: rerun the same command after an interruption.
#
#   bash benchmarks/stage2_variant.sh OUT_DIR MODEL-SUITE OVERRIDE...
#   e.g. bash benchmarks/stage2_variant.sh /tmp/oft_nostab oft-libero_object \
#          rl.stage2.use_stability=false
#   (one torch and one llvmpipe thread, so another 1-thread stage can run beside it)
#
# Writes OUT_DIR/policytrim.json (the evaluate stage's metrics: base, policytrim, compare) and
# prints the paired comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/.venv/bin:$PATH OMP_NUM_THREADS=1 LP_NUM_THREADS=1
OUT=$1 PAIR=$2; shift 2
FAMILY=${PAIR%%-*} SUITE=${PAIR#*-}
OVERRIDES=$(python -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
source benchmarks/stage2_lib.sh
mkdir -p "$OUT"
name=$(basename "$OUT")
stage2_run "$OUT/stage2" "$OUT/stage2.json" "$OUT/${name}_stage2.ipynb" "$OVERRIDES"
stage2_evaluate "$OUT/stage2" "$OUT/stage2.json" "$OUT/policytrim.json" \
  "$OUT/${name}_evaluate.ipynb" "$OUT/figures"
python -c 'import json, sys; d = json.load(open(sys.argv[1]))["compare"]["policytrim"]
print(json.dumps({k: d[k] for k in ("steps_ratio", "sr_diff", "call_speedup")}, indent=1))' \
  "$OUT/policytrim.json"
