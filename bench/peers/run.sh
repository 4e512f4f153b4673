#!/usr/bin/env bash
# csweep beside TransformerLens 4.x and nnsight (PyPI), same checkpoint, prompt, threads, fp32.
#   bash bench/peers/run.sh [CHECKPOINT_DIR] [peers.py options: --quick, --json OUT, --tools ...]
# Without CHECKPOINT_DIR: a random GPT-2-small-shaped checkpoint, made once under build/peers/.
# The peers live in third_party/peers-venv (git-ignored, made here once). They run on the project's
# own torch: a .pth file puts third_party/venv's site-packages on the venv's path, so pip sees
# torch==2.15.0 installed and downloads no second copy (nothing is installed into third_party/venv).
# Offline: no model hub is contacted. csweep itself: bash scripts/build.sh (build/bin/csweep).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
torch_version=2.15.0
venv="$here/third_party/peers-venv"
project_site="$("$here/third_party/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)"
if [[ ! -d "$project_site/torch" ]]; then
  echo "run.sh: no torch in third_party/venv: run bash scripts/install-deps.sh first" >&2
  exit 2
fi
if ! "$venv/bin/python" -c "import transformer_lens, nnsight, h5py, torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  echo "run.sh: making $venv (transformer-lens 4.x, nnsight, torch $torch_version from third_party/venv)"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$project_site" > "$site/csweep-project-torch.pth"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "torch==$torch_version" "transformer-lens>=4,<5" nnsight h5py
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TQDM_DISABLE=1
exec "$venv/bin/python" "$here/bench/peers/peers.py" "$@"
