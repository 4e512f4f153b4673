#!/usr/bin/env bash
# Makes (once) and prints the path of the Python environment the GGUF test tools use:
# third_party/gguf-venv (git-ignored) with gguf, transformers 5.x and tokenizers from PyPI. Like
# bench/peers/run.sh it runs on the project's own torch: a .pth file puts third_party/venv's
# site-packages on the path, so no second torch is downloaded and nothing is installed there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venv="$here/third_party/gguf-venv"
if ! "$venv/bin/python" -c "import gguf, transformers, tokenizers, accelerate, transformer_lens, torch, numpy, sys; sys.exit(not transformers.__version__.startswith('5.'))" 2>/dev/null; then
  echo "venv.sh: making $venv (gguf, transformers 5.x, tokenizers, transformer-lens 4.x; torch from third_party/venv)" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  project_site="$("$here/third_party/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$project_site" > "$site/csweep-project-torch.pth"
  "$venv/bin/pip" install -q --disable-pip-version-check gguf numpy "transformers>=5,<6" tokenizers safetensors accelerate "transformer-lens>=4,<5" >&2
fi
echo "$venv"
