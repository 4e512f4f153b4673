#!/usr/bin/env bash
# Re-trains the bundled induction model into examples/models/induction-2l (the weights are
# shipped; nobody needs to run this to use them). Seeded and single-threaded: the same
# command on the same LibTorch writes the same weights. A few minutes on 2 cores.
# CSWEEP_TRAINER=path/to/csweep-train-induction skips the install and build steps.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
trainer="${CSWEEP_TRAINER:-}"
if [ -z "$trainer" ]; then
  bash "$here/scripts/install-deps.sh"
  build="${CSWEEP_BUILD_DIR:-$here/build}"
  bash "$here/scripts/build.sh"
  cmake --build "$build" --target csweep-train-induction -j "$(nproc)"
  trainer="$build/bin/csweep-train-induction"
fi
# Until the induction phase change (repeated-token loss < 1.5) the first copy starts within
# the first 8 tokens; after it, anywhere up to 40, and a group-L1 penalty on whole heads
# (0.03 per layer) prunes the redundant heads to one previous-token head and one dominant
# induction head. Gaps between the copies are even; the odd ones are the held-out test.
"$trainer" --out "${1:-$here/examples/models/induction-2l}" \
  --seed 1 --steps 8000 --seq 64 --lr 1e-3 --min-segment 8 --max-segment 20 \
  --early-max-prefix 8 --max-prefix 40 --max-gap 12 --head-l1 0.03 0.03 --threads 1
