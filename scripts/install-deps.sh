#!/usr/bin/env bash
# Installs everything circuitsweep builds, tests and runs with, from Debian's packages and PyPI
# only (no npm registry, no model hubs). Idempotent: a second run installs nothing.
#   - Debian packages (apt)
#   - LibTorch: the pinned `torch` wheel from PyPI in third_party/venv (a CUDA build: CMake finds
#     it through torch.utils.cmake_prefix_path; its NVIDIA runtime libraries come with it). The
#     same venv is the Python of the test tools that need torch.
#   - gpt-3-encoder 1.1.4 (GPT-2's reference tokenizer, tests only), unpacked offline from
#     ../shared/vendor/npm/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
torch_version=2.15.0

packages=(
  build-essential cmake ninja-build lld pkg-config git ccache clang-format
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libpcre2-dev libicu-dev libssl-dev libxxhash-dev libcairo2-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-venv python3-h5py python3-numpy
  nodejs xxhash
  clang libclang-rt-14-dev  # the sanitizer job and the fuzzers (ASan/UBSan/libFuzzer runtimes)
)
if [ "${CSWEEP_WITH_SLURM:-0}" = 1 ]; then
  packages+=(slurm-wlm munge)
fi
if [ "${CSWEEP_WITH_CHROMIUM:-0}" = 1 ]; then
  packages+=(chromium)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# LibTorch from the torch wheel. Debian's python3 makes the venv so that the set-up does not
# depend on whatever other Python a machine has on PATH.
venv="$here/third_party/venv"
# numpy: the test tools that write fixtures hand tensors to files through .numpy().
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  echo "install-deps: torch $torch_version into $venv (PyPI, ~4 GB with its CUDA libraries)"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_version" numpy
fi
"$venv/bin/python" -c "import numpy" 2>/dev/null || "$venv/bin/pip" install -q --disable-pip-version-check numpy

# The GPT-2 vocabulary reference tokenizer (tests only): the registry's tarball, unpacked offline.
encoder="$here/third_party/npm/node_modules/gpt-3-encoder"
tarball="$here/../shared/vendor/npm/gpt-3-encoder-1.1.4.tgz"
if [ ! -f "$encoder/Encoder.js" ]; then
  if [ ! -f "$tarball" ]; then
    echo "install-deps: $tarball: missing (gpt-3-encoder 1.1.4 comes from ../shared/vendor/npm, not the npm registry)" >&2
    exit 1
  fi
  rm -rf "$encoder"
  mkdir -p "$encoder"
  tar -xzf "$tarball" -C "$encoder" --strip-components=1 package
fi
