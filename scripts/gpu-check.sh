#!/usr/bin/env bash
# One prepared run that proves the GPU path on a GPU machine (one call of the device tool):
#   bash scripts/gpu-check.sh OUTDIR
# From a bare machine with a CUDA GPU, CUDA, cmake, ninja, a C++ compiler and a Python whose
# torch 2.x CUDA wheel provides LibTorch (no package manager, no network), it
#   1. unpacks the .deb files of .gpu-debs/ (scripts/fetch-gpu-debs.sh, run beforehand where apt
#      works; carried along) into a prefix, never into /;
#   2. builds the model, the analyses, their tests and benches (CSWEEP_GPU_CHECK_ONLY) on all cores;
#   3. runs the exactness tests on cuda: logits of every architecture fixture and sweep tables
#      (fast path and plain loop) against the CPU (fp32 <= 1e-4; bf16 within 1.5x the CPU bf16 error), fused
#      attention against explicit;
#   4. runs the GPU benchmark: a head x position attn.hook_z patching sweep on 64-token prompts of
#      a random Llama-shaped ~7B model in bf16 and of a GPT-2-small-shaped one, fast path vs one
#      forward per patch, against the bf16 GEMM peak measured in the same run;
# and writes every log and a summary into OUTDIR. Where no GPU exists (a rehearsal here) steps
# 1-3 run the same and the GPU tests report themselves skipped; the benchmark runs a small CPU
# shape instead, so the script itself is exercised end to end.
set -uo pipefail
out="${1:?usage: gpu-check.sh OUTDIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
t0=$(date +%s)
elapsed() { echo $(( $(date +%s) - t0 )); }

gpu=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then gpu=1; fi
python="${CSWEEP_TORCH_PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$here/third_party/venv/bin/python" ] && [ "$gpu" = 0 ]; then python="$here/third_party/venv/bin/python"
  else python="$(command -v python3)"; fi
fi
{
  echo "date: $(date -u +%FT%TZ)"; uname -a; nproc
  nvidia-smi 2>&1 || echo "nvidia-smi: none (no GPU: rehearsal)"
  "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count())"
  cmake --version | head -1; ninja --version; c++ --version | head -1; command -v nvcc && nvcc --version | tail -1
} >"$out/env.txt" 2>&1
note "gpu-check: gpu=$gpu python=$python ($(elapsed) s)"

# 1. The .deb files into a prefix.
prefix="$here/build-gpu/prefix"
mkdir -p "$prefix"
unpack() {  # dpkg-deb where it exists, else the ar archive by hand
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$prefix"; return; fi
  "$python" - "$1" "$prefix" <<'PY'
import io, subprocess, sys, tarfile
data = open(sys.argv[1], 'rb').read()
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip('/'); size = int(data[pos + 48:pos + 58])
    body = data[pos + 60:pos + 60 + size]; pos += 60 + size + (size & 1)
    if name.startswith('data.tar'):
        if name.endswith('.zst'):
            body = subprocess.run(['zstd', '-dc'], input=body, capture_output=True, check=True).stdout
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
PY
}
n=0
for deb in "$here"/.gpu-debs/*.deb; do
  [ -e "$deb" ] || { note "gpu-check: no .deb files in .gpu-debs (run scripts/fetch-gpu-debs.sh and carry .gpu-debs)"; break; }
  unpack "$deb" && n=$((n + 1))
done
note "gpu-check: unpacked $n .deb files into $prefix ($(elapsed) s)"
multiarch=x86_64-linux-gnu
export PKG_CONFIG_LIBDIR="$prefix/usr/lib/$multiarch/pkgconfig:$prefix/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
export LD_LIBRARY_PATH="$prefix/usr/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PATH="$PATH:/usr/local/cuda/bin"
pkgconf=()
[ -x "$prefix/usr/bin/pkgconf" ] && pkgconf=(-DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf")

# 2. Build.
build="$here/build-gpu/build"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCSWEEP_GPU_CHECK_ONLY=ON \
  -DCSWEEP_TORCH_PYTHON="$python" -DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_LIBRARY_ARCHITECTURE=$multiarch \
  "${pkgconf[@]}" >"$out/configure.log" 2>&1
rc=$?
note "gpu-check: configure rc=$rc ($(elapsed) s)"
[ $rc = 0 ] || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target test_model test_analyses test_collectives bench_analyses_sweep >"$out/build.log" 2>&1
rc=$?
note "gpu-check: build rc=$rc ($(elapsed) s)"
[ $rc = 0 ] || { grep -m 20 -B2 -A8 "error" "$out/build.log"; exit 1; }

# 3. Exactness on cuda (and the fused-attention tests, which run on the CPU too).
status=0
export CSWEEP_BIN=/nonexistent
"$build/tests/model/test_model" --gtest_filter='TorchModelGpu.*:TorchModelAttention.*:TorchModelDevice.*' \
  >"$out/test_model_gpu.log" 2>&1 || status=1
"$build/tests/analyses/test_analyses" --gtest_filter='GpuSweep.*' >"$out/test_analyses_gpu.log" 2>&1 || status=1
# TP = 1 on the NCCL code path: the wheel's NCCL on the GPU.
"$build/tests/collectives/test_collectives" --gtest_filter='NcclCollective.*:InProcessCollective.*' \
  >"$out/test_collectives_gpu.log" 2>&1 || status=1
grep -h "cuda vs cpu\|fused vs explicit\|bf16 vs fp32\|PASSED\|FAILED\|SKIPPED" "$out"/test_*_gpu.log | tee -a "$summary"
note "gpu-check: exactness tests status=$status ($(elapsed) s)"

# 4. Benchmarks.
bench="$build/bench/analyses/bench_analyses_sweep"
if [ "$gpu" = 1 ]; then
  "$bench" --device cuda:0 --shape llama-7b --seq 64 --dtype bf16 --sweep hook_z --plain-sample 64 \
    >"$out/bench_llama7b.log" 2>&1 || status=1
  "$bench" --device cuda:0 --shape gpt2-small --seq 64 --dtype both --sweep both --plain-sample 128 \
    >"$out/bench_gpt2_small.log" 2>&1 || status=1
else
  "$bench" --shape tiny --seq 16 --dtype fp32 --sweep hook_z --plain-sample 8 >"$out/bench_rehearsal.log" 2>&1 || status=1
fi
cat "$out"/bench_*.log | tee -a "$summary"
note "gpu-check: done, status=$status ($(elapsed) s)"
exit $status
