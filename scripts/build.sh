#!/usr/bin/env bash
# Configures and builds circuitsweep into build/ (incremental; safe to re-run).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CSWEEP_BUILD_DIR:-$here/build}"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${CSWEEP_CMAKE_ARGS:-}
fi
cmake --build "$build" -j "${CSWEEP_JOBS:-$(nproc)}"
