#!/usr/bin/env bash
# README's test command: installs what is missing, builds, runs the whole suite with ctest, then
# the sanitizer job and the fuzzers (docs/testing.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CSWEEP_WITH_SLURM=1 CSWEEP_WITH_CHROMIUM=1 bash "$here/scripts/install-deps.sh"
bash "$here/scripts/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export CSWEEP_BIN="${CSWEEP_BUILD_DIR:-$here/build}/bin/csweep"
cd "${CSWEEP_BUILD_DIR:-$here/build}"
ctest --output-on-failure --timeout 900 -j "${CSWEEP_TEST_JOBS:-2}" "$@"
# The torch-free libraries' unit tests under ASan + UBSan, then every fuzzer for a bounded time
# (docs/testing.md); both in build-san/.
if [ "${CSWEEP_SKIP_SANITIZE:-0}" != 1 ]; then
  bash "$here/scripts/sanitize-check.sh"
fi
if [ "${CSWEEP_SKIP_FUZZ:-0}" != 1 ]; then
  CSWEEP_FUZZ_RUNS="${CSWEEP_FUZZ_RUNS:-3000}" bash "$here/scripts/fuzz.sh"
fi
