#!/usr/bin/env bash
# Rebuilds tests/model/fixtures/sae/, examples/models/induction-2l-sae/ (random) and
# examples/models/induction-2l-sae-trained/ with SAELens itself:
# a venv (third_party/sae-venv) that reuses third_party/venv's torch through a .pth file and
# pip-installs sae-lens 6.x from PyPI, then make_sae_fixtures.py. Not part of the build.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="$here/third_party/sae-venv"
if ! "$venv/bin/python" -c "import sae_lens" 2>/dev/null; then
  /usr/bin/python3 -m venv "$venv"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  torch_site="$("$here/third_party/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$torch_site" > "$site/torch-venv.pth"
  "$venv/bin/pip" install -q --disable-pip-version-check "sae-lens>=6,<7"
fi
"$venv/bin/python" "$here/tests/model/reference/make_sae_fixtures.py" \
  "$here/tests/model/fixtures/sae" "$here/examples/models/induction-2l-sae"
"$venv/bin/python" "$here/tests/model/reference/train_example_sae.py" \
  "$here/examples/models/induction-2l" "$here/examples/models/induction-2l-sae-trained"
