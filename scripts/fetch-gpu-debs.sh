#!/usr/bin/env bash
# Downloads (here, where apt works) the Debian packages scripts/gpu-check.sh unpacks on a GPU
# machine that has no package manager and no network: the headers and libraries of
# CSWEEP_GPU_CHECK_ONLY's build (spdlog, fmt, nlohmann-json, PCRE2, OpenSSL, GoogleTest) and
# pkgconf. Into .gpu-debs/ (git-ignored; ~7 MB), which the device call carries. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/.gpu-debs"
packages=(libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev
          libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
          libgtest-dev libgmock-dev libssl-dev libssl3 pkgconf pkgconf-bin libpkgconf3)
mkdir -p "$out"
cd "$out"
for p in "${packages[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "$p" >/dev/null 2>&1
done
# Versions bring '%3a', '+' and '~' into file names; the device tool carries plain names only.
for f in *.deb; do
  plain="$(echo "$f" | sed 's/%3a/-/g; s/[^A-Za-z0-9._-]/-/g')"
  [ "$f" = "$plain" ] || mv "$f" "$plain"
done
ls "$out"
