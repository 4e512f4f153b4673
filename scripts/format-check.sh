#!/usr/bin/env bash
# Checks that every C++ file in the repository is formatted as .clang-format says (CI runs it as
# the ctest test `format_check`). --fix rewrites the files instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
format="${CLANG_FORMAT:-clang-format}"
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cc')
if [ "${1:-}" = "--fix" ]; then
  "$format" -i "${files[@]}"
  exit 0
fi
if ! "$format" --dry-run --Werror "${files[@]}" 2>/tmp/csweep-format.$$; then
  grep -o '^[^:]*:[0-9]*:[0-9]*' /tmp/csweep-format.$$ | head -20 >&2
  echo "format_check: $(grep -c 'error:' /tmp/csweep-format.$$) places differ from .clang-format; run: bash scripts/format-check.sh --fix" >&2
  rm -f /tmp/csweep-format.$$
  exit 1
fi
rm -f /tmp/csweep-format.$$
echo "format_check: ${#files[@]} files formatted as .clang-format says"
