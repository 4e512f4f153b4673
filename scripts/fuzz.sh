#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for SECONDS each (default 60), two at a time
# (CSWEEP_FUZZ_JOBS), under ASan + UBSan, starting from the committed seeds in fuzz/corpus/<t>/.
# New inputs go to build-san/fuzz-corpus/<t>/ (kept between runs, not committed); a crash,
# leak, timeout (10 s) or out-of-memory (2 GB RSS, 1 GB in one allocation) leaves its input
# in build-san/fuzz-artifacts/ and makes the script exit non-zero. Prints one line per target:
# executions, executions per second, coverage (cov: edges, ft: features), corpus size.
# CSWEEP_FUZZ_RUNS=N runs exactly N inputs per target instead (CI, scripts/test.sh): with the
# fixed seed (CSWEEP_FUZZ_SEED, default 1) such a run is the same on every machine, so a CI
# result never depends on how fast the machine happened to be.
#   CSWEEP_FUZZ_RUNS=3000 bash scripts/fuzz.sh   # CI (scripts/test.sh)
#   bash scripts/fuzz.sh 1800               # a longer pass: half an hour per target
#   CSWEEP_FUZZ_TARGETS="gguf safetensors" bash scripts/fuzz.sh 300
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
source "$here/scripts/sanitize-config.sh"
targets=(${CSWEEP_FUZZ_TARGETS:-$(cd "$here/fuzz/corpus" && ls -d */ | tr -d /)})
cmake --build "$san_build" -j "${CSWEEP_JOBS:-$(nproc)}" --target "${targets[@]/%/_fuzz}"
logs="$san_build/fuzz-logs"
mkdir -p "$logs" "$san_build/fuzz-artifacts"

run_one() {
  local t="$1" work="$san_build/fuzz-corpus/$1"
  # The targets write the fuzzed bytes to files (the parsers read files): a private folder.
  export TMPDIR="$san_build/fuzz-tmp/$t"
  rm -rf "$TMPDIR"
  mkdir -p "$work" "$TMPDIR"
  local budget=(-max_total_time="$seconds")
  [ -n "${CSWEEP_FUZZ_RUNS:-}" ] && budget=(-runs="$CSWEEP_FUZZ_RUNS")
  if "$san_build/bin/fuzz/${t}_fuzz" "$work" "$here/fuzz/corpus/$t" "${budget[@]}" \
       -seed="${CSWEEP_FUZZ_SEED:-1}" \
       -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
       -artifact_prefix="$san_build/fuzz-artifacts/$t-" >"$logs/$t.log" 2>&1; then
    echo "ok" >"$logs/$t.rc"
  else
    echo "FAILED" >"$logs/$t.rc"
  fi
}
export -f run_one
export here san_build seconds logs
printf '%s\n' "${targets[@]}" | xargs -P "${CSWEEP_FUZZ_JOBS:-$(nproc)}" -I{} bash -c 'run_one {}'

failed=0
printf '%-16s %-6s %12s %8s %7s %7s %8s\n' target result execs exec/s cov ft corpus
for t in "${targets[@]}"; do
  log="$logs/$t.log"
  last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")"
  result="$(cat "$logs/$t.rc")"
  printf '%-16s %-6s %12s %8s %7s %7s %8s\n' "$t" "$result" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  if [ "$result" != ok ]; then
    failed=1
    echo "---- $t: $log (last 60 lines) ----"
    tail -60 "$log"
  fi
done
exit "$failed"
