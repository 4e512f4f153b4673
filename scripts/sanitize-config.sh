#!/usr/bin/env bash
# Sourced by scripts/sanitize-check.sh and scripts/fuzz.sh: configures (once) the torch-free
# build with clang, AddressSanitizer + UBSan and libFuzzer's instrumentation in
# ${CSWEEP_SAN_BUILD_DIR:-build-san}. One build serves both: the unit tests and the fuzzers
# link the same instrumented libraries, so CI compiles them once.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
san_build="${CSWEEP_SAN_BUILD_DIR:-$here/build-san}"
if [ ! -f "$san_build/CMakeCache.txt" ]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$here" -B "$san_build" "${generator[@]}" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" "-DCMAKE_C_FLAGS_DEBUG=-O1 -gline-tables-only" \
    -DCSWEEP_TORCH_FREE_ONLY=ON -DCSWEEP_SANITIZE=address,undefined -DCSWEEP_FUZZ=ON >/dev/null
fi
# Findings stop the program with a report and a non-zero exit (no recovery, no leak noise from
# uninstrumented system libraries: see fuzz/lsan.supp).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$here/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
