#!/usr/bin/env bash
# The torch-free libraries' unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
# (clang; build-san/, see docs/testing.md). Extra arguments go to ctest. Tests that run the
# csweep executable (torch: not instrumented, not built here) are excluded by name.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/sanitize-config.sh"
cmake --build "$san_build" -j "${CSWEEP_JOBS:-$(nproc)}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$san_build"
# These run `csweep plan|tokenize|run|status|reduce` as a process (torch-linked, not built here).
needs_csweep='^(PlanCli|TokenizeCommand|BaselinesEndToEnd|HostileJobs)\.|^HostileFragments\.StatusReduceAndRun'
ctest --output-on-failure --timeout 600 -j "${CSWEEP_TEST_JOBS:-2}" -E "$needs_csweep" "$@"
