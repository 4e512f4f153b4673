#!/usr/bin/env bash
# Installs every Debian package circuitsweep builds, tests and runs with. Idempotent:
# a second run installs nothing and only re-checks the BLAS alternatives.
set -euo pipefail

packages=(
  build-essential cmake ninja-build lld pkg-config git ccache
  libtorch-dev libopenblas0-openmp libopenblas-openmp-dev
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libpcre2-dev libicu-dev libcairo2-dev libgtest-dev libgmock-dev libbenchmark-dev
  python3-h5py python3-torch python3-numpy
  nodejs
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

# Debian's LibTorch calls whatever libblas.so.3 resolves to. The reference BLAS is ~20x slower
# and a pthread/OpenMP OpenBLAS mix ~3x slower (two thread pools on 2 cores), so all three
# alternatives must point at OpenBLAS's OpenMP variant (shares LibTorch's OpenMP pool).
arch_dir=/usr/lib/x86_64-linux-gnu
for alt in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  name="${alt}-x86_64-linux-gnu"
  case "$alt" in
    libblas.so.3)     target="$arch_dir/openblas-openmp/libblas.so.3" ;;
    liblapack.so.3)   target="$arch_dir/openblas-openmp/liblapack.so.3" ;;
    libopenblas.so.0) target="$arch_dir/openblas-openmp/libopenblas.so.0" ;;
  esac
  if update-alternatives --query "$name" >/dev/null 2>&1 && [ -e "$target" ]; then
    current=$(readlink -f "/etc/alternatives/$name" || true)
    if [ "$current" != "$(readlink -f "$target")" ]; then
      update-alternatives --set "$name" "$target" >/dev/null
      echo "install-deps: $name -> $target"
    fi
  fi
done

# The GPT-2 vocabulary reference tokenizer (tests only), from the npm registry.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$here/third_party/npm/node_modules/gpt-3-encoder/Encoder.js" ]; then
  mkdir -p "$here/third_party/npm"
  (cd "$here/third_party/npm" && npm install --silent --no-audit --no-fund --prefix . gpt-3-encoder@1.1.4 >/dev/null)
fi
