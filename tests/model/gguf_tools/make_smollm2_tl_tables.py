#!/usr/bin/env python3
"""Records TransformerLens 4.x's activation-patching tables for SmolLM2-135M-Instruct on one
IOI-style prompt into tests/model/fixtures/smollm2_tl_tables.json; the C++ test
(smollm2_tables_test.cpp) reproduces them with csweep's analyses, without Python.

    V=$(bash tests/model/gguf_tools/venv.sh)
    $V/bin/python tests/model/gguf_tools/make_smollm2_tl_tables.py

TransformerLens runs the converted folder through TransformerBridge in compatibility mode with
no weight processing (raw Hugging Face numbers, as csweep computes by default); its own
patching functions make the tables: get_act_patch_resid_pre ([layer, pos]),
get_act_patch_attn_head_out_all_pos ([layer, head]) and ..._by_pos ([layer, pos, head]).
The metric is TransformerLens-style logit_diff at the last position.
"""
import json
import pathlib
import subprocess
import sys

import torch
import transformer_lens
import transformers
from transformer_lens import patching
from transformer_lens.model_bridge import TransformerBridge
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests/model/fixtures/smollm2_tl_tables.json"
CLEAN = "When Mary and John went to the store, John gave a drink to"
CORRUPTED = "When Mary and John went to the store, Mary gave a drink to"
ANSWER, WRONG = " Mary", " John"


def main():
    import argparse
    ap = argparse.ArgumentParser()
    # head_out_by_pos is 3780 TransformerLens forwards (~25 min on 2 cores); --quick skips it.
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    model_dir = subprocess.run(["bash", str(ROOT / "scripts/fetch-smollm2.sh")], check=True, capture_output=True,
                               text=True).stdout.strip()
    tok = AutoTokenizer.from_pretrained(model_dir)
    hf = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    model = TransformerBridge.boot_transformers(model_dir, hf_model=hf, device="cpu", dtype=torch.float32)
    model.enable_compatibility_mode(no_processing=True, disable_warnings=True)
    model.eval()

    clean = tok(CLEAN, add_special_tokens=False, return_tensors="pt")["input_ids"]
    corrupted = tok(CORRUPTED, add_special_tokens=False, return_tensors="pt")["input_ids"]
    assert clean.shape == corrupted.shape
    answer, wrong = (tok(t, add_special_tokens=False)["input_ids"] for t in (ANSWER, WRONG))
    assert len(answer) == 1 and len(wrong) == 1
    answer, wrong = answer[0], wrong[0]

    def metric(logits):
        return logits[0, -1, answer] - logits[0, -1, wrong]

    with torch.no_grad():
        clean_logits, clean_cache = model.run_with_cache(clean)
        corrupted_logits = model(corrupted)
        hf_clean = hf(clean).logits
    print(f"logit_diff clean {metric(clean_logits).item():.4f}, corrupted {metric(corrupted_logits).item():.4f}; "
          f"TL vs HF logits max |diff| {(clean_logits - hf_clean).abs().max().item():.3g}")
    tables = {}
    for name, fn in [("resid_pre", patching.get_act_patch_resid_pre),
                     ("head_out_all_pos", patching.get_act_patch_attn_head_out_all_pos),
                     ("head_out_by_pos", patching.get_act_patch_attn_head_out_by_pos)]:
        if args.quick and name == "head_out_by_pos":
            continue
        with torch.no_grad():
            t = fn(model, corrupted, clean_cache, metric)
        tables[name] = [round(x, 6) for x in t.double().flatten().tolist()]
        tables[name + "_shape"] = list(t.shape)
        print(f"{name}: shape {list(t.shape)}, max {t.max().item():.3f}")
    FIXTURE.write_text(json.dumps({
        "generator": "tests/model/gguf_tools/make_smollm2_tl_tables.py",
        "versions": {"transformer_lens": transformer_lens.__version__ if hasattr(transformer_lens, "__version__")
                     else __import__("importlib.metadata").metadata.version("transformer-lens"),
                     "transformers": transformers.__version__, "torch": torch.__version__},
        "clean": CLEAN, "corrupted": CORRUPTED, "answer": ANSWER, "wrong": WRONG,
        "clean_tokens": clean[0].tolist(), "corrupted_tokens": corrupted[0].tolist(),
        "answer_token": answer, "wrong_token": wrong,
        "logit_diff_clean": metric(clean_logits).item(), "logit_diff_corrupted": metric(corrupted_logits).item(),
        "tables": tables,
    }, separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
