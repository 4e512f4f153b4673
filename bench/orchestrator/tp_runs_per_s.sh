#!/usr/bin/env bash
# Patched runs/s of a head x position sweep through `csweep run` with tensor-parallel groups
# (issue 16 item 7): the same sweep on one worker rank (T = 1), on one group of 2 and of 4
# ranks, and — the alternative when the model fits one rank — on two whole-model workers. Each
# rank computes with one thread, so T ranks use T cores; on a machine with fewer cores than
# ranks the extra ranks only share them. A benchmark, not a test: it prints, asserts nothing.
#
# usage: bench/orchestrator/tp_runs_per_s.sh [OUT_DIR]     (after scripts/build.sh)
# The model: a random Llama-shaped checkpoint (tp_load_memory --write: bf16 on disk, computed in
# float32), d_model 1024, 16 heads, MLP 2816, vocab 32000, 4 layers; four 16-token prompts:
# 4 x (4 layers x 16 positions x 16 heads) = 4096 patched runs.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
OUT=$(mkdir -p "${1:-$BUILD/bench-tp-runs}" && cd "${1:-$BUILD/bench-tp-runs}" && pwd)
CSWEEP=$BUILD/bin/csweep
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 CSWEEP_THREADS=1

if [ ! -f "$OUT/model/config.json" ]; then
  "$BUILD/bench/loader/tp_load_memory" --write "$OUT/model" --d 1024 --heads 16 --kv 16 \
    --mlp 2816 --vocab 32000 --layers 4 >/dev/null
fi
write_job() {  # $1: tensor_parallel
  cat > "$OUT/job_tp$1.yaml" <<YAML
name: tp_runs_per_s
model: {path: model, dtype: float32, tensor_parallel: $1}
prompts:
  - {id: p0, clean: [1, 310, 4908, 338, 3681, 29892, 322, 278, 4908, 338, 1, 310, 4908, 338, 3681, 29892], corrupted: [1, 310, 4908, 338, 4517, 29892, 322, 278, 4908, 338, 1, 310, 4908, 338, 4517, 29892], answer: 3681, wrong: 4517}
  - {id: p1, clean: [2, 311, 4909, 339, 3682, 29893, 323, 279, 4909, 339, 2, 311, 4909, 339, 3682, 29893], corrupted: [2, 311, 4909, 339, 4518, 29893, 323, 279, 4909, 339, 2, 311, 4909, 339, 4518, 29893], answer: 3682, wrong: 4518}
  - {id: p2, clean: [3, 312, 4910, 340, 3683, 29894, 324, 280, 4910, 340, 3, 312, 4910, 340, 3683, 29894], corrupted: [3, 312, 4910, 340, 4519, 29894, 324, 280, 4910, 340, 3, 312, 4910, 340, 4519, 29894], answer: 3683, wrong: 4519}
  - {id: p3, clean: [4, 313, 4911, 341, 3684, 29895, 325, 281, 4911, 341, 4, 313, 4911, 341, 3684, 29895], corrupted: [4, 313, 4911, 341, 4520, 29895, 325, 281, 4911, 341, 4, 313, 4911, 341, 4520, 29895], answer: 3684, wrong: 4520}
metric: logit_diff
analyses:
  - {name: heads, kind: activation_patching, sites: [attn.hook_z], patch: per_position}
YAML
}

printf "%-34s %5s %10s %12s %10s\n" layout ranks seconds "runs/s" "x T=1"
base=""
for layout in "1 2" "2 3" "4 5" "1 3"; do
  set -- $layout
  tp=$1 np=$2
  write_job "$tp"
  store="$OUT/store_tp${tp}_np${np}"
  rm -rf "$store"
  start=$(date +%s.%N)
  mpirun -np "$np" --oversubscribe --bind-to none "$CSWEEP" run "$OUT/job_tp$tp.yaml" \
    --store "$store" --json >"$store.json" 2>"$store.log"
  end=$(date +%s.%N)
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  rate=$(awk -v s="$seconds" 'BEGIN { print 4096 / s }')
  [ -z "$base" ] && base=$rate
  case "$tp/$np" in
    1/2) name="T=1 (one worker rank)" ;;
    1/3) name="T=1 x 2 workers (data parallel)" ;;
    *) name="T=$tp (one group of $tp ranks)" ;;
  esac
  printf "%-34s %5s %10.1f %12.1f %10.2f\n" "$name" "$np" "$seconds" "$rate" \
    "$(awk -v r="$rate" -v b="$base" 'BEGIN { print r / b }')"
done
echo "(wall time of the whole csweep run, model loading included; $(nproc) cores here)"
