# Shared by the stage-2 experiments outside DVC (sourced, not run): the notebook command lines
# of dvc.yaml's stage2 and evaluate stages, with other output paths. Needs PAIR, FAMILY, SUITE.
#
#   stage2_run RUN_DIR METRICS NOTEBOOK OVERRIDES_JSON   train (resumes from RUN_DIR's checkpoint)
#   stage2_evaluate RUN_DIR STAGE2_METRICS OUT_METRICS NOTEBOOK FIGURES_DIR
#                                                        paired evaluation against the pipeline's
#                                                        base episodes (data/cache/evaluate)
stage2_run() {
  python -m ptrim.notebook notebooks/05_stage2.py "$3" -p profile default -p overrides "$4" \
    -p family "$FAMILY" -p suite "$SUITE" -p sft_dir "data/sft/$PAIR" \
    -p stage1_dir "data/rl/stage1/$PAIR" -p stage1_metrics "data/metrics/stage1/$PAIR.json" \
    -p out_dir "$1" -p metrics_path "$2"
  rm -f "data/timings/$(basename "$3" .ipynb).jsonl"  # ptrim.notebook's clock: not a stage
}

stage2_evaluate() {
  python -m ptrim.notebook notebooks/06_evaluate.py "$4" -p profile default \
    -p family "$FAMILY" -p suite "$SUITE" -p sft_dir "data/sft/$PAIR" \
    -p stage1_dir "data/rl/stage1/$PAIR" -p stage1_metrics "data/metrics/stage1/$PAIR.json" \
    -p stage2_dir "$1" -p stage2_metrics "$2" -p metrics_path "$3" -p figures_dir "$5" \
    -p store_dir data/cache/evaluate
  rm -f "data/timings/$(basename "$4" .ipynb).jsonl"
}
