#!/usr/bin/env bash
# README's test command: installs what is missing, builds, runs the whole suite with ctest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CSWEEP_WITH_SLURM=1 CSWEEP_WITH_CHROMIUM=1 bash "$here/scripts/install-deps.sh"
bash "$here/scripts/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export CSWEEP_BIN="${CSWEEP_BUILD_DIR:-$here/build}/bin/csweep"
cd "${CSWEEP_BUILD_DIR:-$here/build}"
ctest --output-on-failure --timeout 900 -j "${CSWEEP_TEST_JOBS:-2}" "$@"
