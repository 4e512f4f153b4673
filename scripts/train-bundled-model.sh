#!/usr/bin/env bash
# Re-trains the bundled induction model into examples/models/induction-2l (the weights are
# shipped; nobody needs to run this to use them). Seeded and single-threaded: the same
# command on the same LibTorch writes the same weights. ~5 minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh"
build="${CSWEEP_BUILD_DIR:-$here/build}"
bash "$here/scripts/build.sh"
cmake --build "$build" --target csweep-train-induction -j "$(nproc)"
"$build/bin/csweep-train-induction" --out "${1:-$here/examples/models/induction-2l}" \
  --seed 1 --steps 5000 --seq 64 --lr 1e-3 --min-segment 8 --max-segment 20 --max-prefix 8 --max-gap 6 --threads 1
