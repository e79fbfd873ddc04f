#!/bin/bash
# One LIBERO rollout process against two side by side (aggregate steps/s), with the libraries'
# default thread counts and with one torch / one llvmpipe thread each (what `ptrim.repro --jobs 2`
# sets). Run from the repository root with the venv active: bash benchmarks/parallel_rollouts.sh
B="python -m ptrim.bench rollout --exec-lens 1 8 --steps 200 --repeats 3"
for i in 1 2; do
echo "== A: one process, library default threads"; env -u OMP_NUM_THREADS -u LP_NUM_THREADS $B 2>&1 | grep -E "^ +(1|8) "
echo "== B: one process, OMP=1 LP=1"; OMP_NUM_THREADS=1 LP_NUM_THREADS=1 $B 2>&1 | grep -E "^ +(1|8) "
echo "== C: two processes, OMP=1 LP=1"; (OMP_NUM_THREADS=1 LP_NUM_THREADS=1 $B > ${TMPDIR:-/tmp}/par_c1.txt 2>&1 & OMP_NUM_THREADS=1 LP_NUM_THREADS=1 $B > ${TMPDIR:-/tmp}/par_c2.txt 2>&1; wait); grep -hE "^ +(1|8) " ${TMPDIR:-/tmp}/par_c1.txt ${TMPDIR:-/tmp}/par_c2.txt
echo "== D: two processes, library default threads"; (env -u OMP_NUM_THREADS -u LP_NUM_THREADS $B > ${TMPDIR:-/tmp}/par_d1.txt 2>&1 & env -u OMP_NUM_THREADS -u LP_NUM_THREADS $B > ${TMPDIR:-/tmp}/par_d2.txt 2>&1; wait); grep -hE "^ +(1|8) " ${TMPDIR:-/tmp}/par_d1.txt ${TMPDIR:-/tmp}/par_d2.txt
done
