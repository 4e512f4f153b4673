#!/usr/bin/env bash
# README's main job: installs what is missing, builds, runs the bundled induction sweep
# (examples/induction.yaml on examples/models/induction-2l) across MPI ranks when mpirun is
# available, reduces it and prints where the heatmaps and the report are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh"
bash "$here/scripts/build.sh"
csweep="${CSWEEP_BUILD_DIR:-$here/build}/bin/csweep"
store="${1:-$here/examples/induction.store}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$csweep" plan "$here/examples/induction.yaml" --ranks 3
if command -v mpirun >/dev/null; then
  # Rank 0 coordinates; two workers, one per core.
  mpirun -np 3 --oversubscribe "$csweep" run "$here/examples/induction.yaml" --store "$store"
else
  "$csweep" run "$here/examples/induction.yaml" --store "$store"
fi
"$csweep" reduce "$store"
echo
echo "heatmap (layer x head, activation patching of attn.hook_z): $store/heatmaps/head_out_mean.png"
echo "report: $store/report.html"
