#!/usr/bin/env python3
"""csweep beside its peers (TransformerLens 4.x, nnsight) on one checkpoint, prompt and thread count.

Two activation-patching sweeps, denoising (the clean run's activation patched into the corrupted
run), metric logit_diff = logit(answer) - logit(wrong) at the last position, fp32 (or --dtype
bfloat16), CPU, on a GPT-2 or Llama-family checkpoint (SmolLM2-135M: scripts/fetch-gguf.sh):
  resid_pre     hook_resid_pre, layer x position
  head_z_by_pos attn.hook_z (the per-head attention output before the output projection),
                layer x position x head
In fp32 each tool's table must equal TransformerLens's within --tol; in bf16 the differences are
reported, not checked (each library rounds its own way). --forward also times plain forwards
(batch 1 and 32 x 16 tokens): Transformers and TransformerLens here, csweep through
build/bench/loader/bench_forward --model. Run through bench/peers/run.sh, which makes the venv.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # TransformerLens prints a bar per sweep otherwise

import h5py
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHECKPOINT = ROOT / "build" / "peers" / "gpt2-small-random-seed0"
SWEEPS = ("resid_pre", "head_z_by_pos")
N_TOKENS = 16
CORRUPTED_POSITIONS = (3, 8, 12)  # the tokens the corrupted prompt changes
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def dims(hf):
    """(layers, query heads, d_head) of a Hugging Face causal LM's config (GPT-2 or Llama family)."""
    c = hf.config
    heads = c.num_attention_heads
    return c.num_hidden_layers, heads, getattr(c, "head_dim", None) or c.hidden_size // heads


def make_checkpoint(folder):
    """A random GPT-2-small-shaped Hugging Face checkpoint, fixed seed (made once, then reused)."""
    if (folder / "config.json").exists() and (folder / "model.safetensors").exists():
        return
    print(f"making a random GPT-2-small-shaped checkpoint in {folder} (seed 0)", flush=True)
    torch.manual_seed(0)
    config = GPT2Config(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, n_positions=1024)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    GPT2LMHeadModel(config).eval().save_pretrained(tmp)
    tmp.rename(folder)


def make_prompt(hf):
    """16 seeded token ids, a corrupted copy with 3 tokens changed, answer/wrong = the two runs' top tokens."""
    g = torch.Generator().manual_seed(12)
    vocab = hf.config.vocab_size
    clean = torch.randint(vocab, (N_TOKENS,), generator=g)
    corrupted = clean.clone()
    for p in CORRUPTED_POSITIONS:
        corrupted[p] = (clean[p] + 1 + torch.randint(vocab - 1, (1,), generator=g)) % vocab
    clean_top = hf(clean[None]).logits[0, -1].topk(2).indices.tolist()
    corrupted_top = hf(corrupted[None]).logits[0, -1].argmax().item()
    wrong = corrupted_top if corrupted_top != clean_top[0] else clean_top[1]
    return clean, corrupted, clean_top[0], wrong


# ---------------------------------------------------------------- TransformerLens
def run_transformer_lens(path, hf, clean, corrupted, answer, wrong, layers, dtype, forward):
    """TransformerLens's own patching functions. layers: the layers timed (all unless --quick)."""
    from transformer_lens import patching
    from transformer_lens.model_bridge import TransformerBridge

    # TransformerLens 4 replaced HookedTransformer by TransformerBridge; compatibility mode gives
    # the HookedTransformer hook names, no_processing=True = fold_ln, center_writing_weights,
    # center_unembed all off (raw Hugging Face numbers).
    model = TransformerBridge.boot_transformers(str(path), hf_model=hf, device="cpu", dtype=dtype)
    model.enable_compatibility_mode(no_processing=True, disable_warnings=True)
    model.eval()

    def metric(logits):
        return (logits[0, -1, answer] - logits[0, -1, wrong]).float()

    _, clean_cache = model.run_with_cache(clean[None])
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    out = {}
    for name, fn, axes, shape in [
        ("resid_pre", patching.get_act_patch_resid_pre, ("layer", "pos"), (n_layers, N_TOKENS)),
        ("head_z_by_pos", patching.get_act_patch_attn_head_out_by_pos, ("layer", "pos", "head"),
         (n_layers, N_TOKENS, n_heads)),
    ]:
        index_df = patching.make_df_from_ranges(shape, axes)
        index_df = index_df[index_df.layer.isin(layers)].reset_index(drop=True)
        t0 = time.perf_counter()
        values = fn(model, corrupted[None], clean_cache, metric, index_axis_names=None, index_df=index_df)
        seconds = time.perf_counter() - t0
        table = np.full(shape, np.nan, dtype=np.float32)
        table[tuple(index_df[a].to_numpy() for a in axes)] = values.float().numpy()
        out[name] = dict(table=table, seconds=seconds * n_layers / len(layers), timed_seconds=seconds,
                         patches=len(index_df), extrapolated=len(layers) < n_layers)
    if forward:
        out["forward"] = time_forwards(lambda tokens: model(tokens), hf.config.vocab_size)
    return out


def time_forwards(run, vocab, iters=3):
    """Best-of-iters ms per forward at batch 1 and 32 x N_TOKENS random tokens (bench_forward's shapes)."""
    out = {}
    for batch in (1, 32):
        tokens = torch.randint(vocab, (batch, N_TOKENS), generator=torch.Generator().manual_seed(batch))
        run(tokens)  # warm-up
        best = min(timed(run, tokens) for _ in range(iters))
        out[f"{batch}x{N_TOKENS}"] = best * 1e3
    return out


def timed(run, tokens):
    t0 = time.perf_counter()
    run(tokens)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- nnsight
def run_nnsight(hf, clean, corrupted, answer, wrong, batch):
    """The head x position sweep (and resid_pre) as an nnsight user batches it: `batch` patched rows per
    forward, each row a copy of the corrupted prompt with one (layer, pos, head) slice of c_proj's input
    (= attn.hook_z, heads concatenated) replaced by the clean run's."""
    from nnsight import NNsight

    model = NNsight(hf)  # LanguageModel wants a tokenizer; the checkpoints here have none
    n_layers, n_heads, d_head = dims(hf)
    gpt2 = hasattr(hf, "transformer")  # else the Llama family: model.layers[i].self_attn.o_proj

    def site(layer, name):
        block = model.transformer.h[layer] if gpt2 else model.model.layers[layer]
        if name != "head_z_by_pos":
            return block
        return block.attn.c_proj if gpt2 else block.self_attn.o_proj

    out = {}
    for name, shape in [("resid_pre", (n_layers, N_TOKENS)), ("head_z_by_pos", (n_layers, N_TOKENS, n_heads))]:
        t0 = time.perf_counter()
        clean_acts = []
        with model.trace(clean[None]):  # (a list comprehension here would lose its result in nnsight 0.8.1)
            for layer in range(n_layers):
                clean_acts.append(site(layer, name).input.save())
        cells = torch.tensor(np.stack(np.unravel_index(np.arange(np.prod(shape)), shape), axis=1))
        values = []
        for chunk in cells.split(batch):
            rows = torch.arange(len(chunk))
            with model.trace(corrupted[None].expand(len(chunk), -1), logits_to_keep=1):  # last position only
                for layer in chunk[:, 0].unique().tolist():  # in execution order
                    sel = chunk[:, 0] == layer
                    r, pos = rows[sel], chunk[sel, 1]
                    x = site(layer, name).input
                    if name == "resid_pre":
                        x[r, pos] = clean_acts[layer][0, pos]
                    else:
                        z, zc = x.view(*x.shape[:2], n_heads, d_head), clean_acts[layer].view(N_TOKENS, n_heads, d_head)
                        z[r, pos, chunk[sel, 2]] = zc[pos, chunk[sel, 2]]
                logits = model.lm_head.output[:, -1]
                diff = (logits[:, answer] - logits[:, wrong]).float().save()
            values.append(diff)
        seconds = time.perf_counter() - t0
        table = torch.cat(values).reshape(shape).float().numpy()
        out[name] = dict(table=table, seconds=seconds, patches=len(cells), extrapolated=False)
    return out


# ---------------------------------------------------------------- csweep
def run_csweep(binary, path, clean, corrupted, answer, wrong, workdir, threads, dtype):
    """One job per sweep; `csweep run` timed end to end as a subprocess, then `csweep reduce`, then sweep.h5."""
    analyses = {
        "resid_pre": "    sites: [hook_resid_pre]\n    patch: per_position\n",
        "head_z_by_pos": "    sites: [attn.hook_z]\n    patch: per_position\n",
    }
    env = dict(os.environ, CSWEEP_THREADS=str(threads))
    out = {}
    for name, keys in analyses.items():
        job, store = workdir / f"{name}.yaml", workdir / f"{name}.store"
        job.write_text(
            f"name: peers_{name}\nmodel:\n  path: {path}\n  dtype: {dtype}\n  device: cpu\n"
            f"prompts:\n  - id: peers\n    clean: {clean.tolist()}\n    corrupted: {corrupted.tolist()}\n"
            f"    answer: {answer}\n    wrong: {wrong}\nmetric: logit_diff\n"
            f"analyses:\n  - name: {name}\n    kind: activation_patching\n    direction: denoising\n{keys}"
        )
        shutil.rmtree(store, ignore_errors=True)  # a fresh store each time: no resume
        t0 = time.perf_counter()
        subprocess.run([str(binary), "run", str(job), "--store", str(store)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        subprocess.run([str(binary), "reduce", str(store), "--no-html"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with h5py.File(store / "sweep.h5", "r") as f:
            g = f[f"analyses/{name}"]
            table = g["per_prompt"][0]
            axes = [d.label for d in g["per_prompt"].dims][1:]
        expected = ["layer", "pos"] + (["head"] if name == "head_z_by_pos" else [])
        assert axes == expected, f"{name}: sweep.h5 axes {axes}, expected {expected}"
        out[name] = dict(table=table.astype(np.float32), seconds=seconds, patches=table.size,
                         extrapolated=False, store=str(store))
    return out


def csweep_forwards(bench_forward, path, dtype, threads):
    """ms per forward from bench_forward --model (same shapes as time_forwards), for this dtype."""
    text = subprocess.run([str(bench_forward), "--model", str(path), "--threads", str(threads)],
                          check=True, capture_output=True, text=True).stdout
    label = "bf16" if dtype == "bfloat16" else "fp32"
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\S+\s+(fp32|bf16)\s+(\d+) x (\d+)\s+([\d.]+)\s", line)
        if m and m.group(1) == label:
            out[f"{m.group(2)}x{m.group(3)}"] = float(m.group(4))
    return out


# ---------------------------------------------------------------- report
def max_diff(a, b):
    both = ~(np.isnan(a) | np.isnan(b))
    d = np.abs(a[both] - b[both])
    if not d.size:
        return None, None
    where = np.argwhere(both)[d.argmax()].tolist()
    return float(d.max()), where


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?", type=Path, help=f"HF GPT-2 checkpoint folder (default: "
                    f"a random GPT-2-small-shaped one, made once in {DEFAULT_CHECKPOINT.relative_to(ROOT)})")
    ap.add_argument("--quick", action="store_true",
                    help="TransformerLens runs only layers 0 and the last; its times are extrapolated")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128, help="nnsight: patched rows per forward")
    ap.add_argument("--csweep", type=Path, default=ROOT / "build" / "bin" / "csweep")
    ap.add_argument("--tools", default="transformer_lens,nnsight,csweep")
    ap.add_argument("--tol", type=float, default=1e-4, help="fp32 only: bf16 differences are reported")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
    ap.add_argument("--forward", action="store_true",
                    help="also time plain forwards (batch 1 and 32 x 16 tokens) in each tool")
    ap.add_argument("--bench-forward", type=Path, default=ROOT / "build" / "bench" / "loader" / "bench_forward")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    tools = args.tools.split(",")

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    path = (args.checkpoint or DEFAULT_CHECKPOINT).resolve()
    if args.checkpoint is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        make_checkpoint(path)
    dtype = DTYPES[args.dtype]
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    clean, corrupted, answer, wrong = make_prompt(hf)
    n_layers, n_heads, _ = dims(hf)
    layers = [0, n_layers - 1] if args.quick else list(range(n_layers))
    print(f"checkpoint {path}: {type(hf).__name__}, {n_layers} layers, {n_heads} heads, "
          f"d_model {hf.config.hidden_size}, vocab {hf.config.vocab_size}; {args.dtype}, {args.threads} threads")
    print(f"clean {clean.tolist()}\ncorrupted {corrupted.tolist()}\nanswer {answer}, wrong {wrong}", flush=True)

    load_before = os.getloadavg()
    results = {}
    if "csweep" in tools:
        if not args.csweep.exists():
            sys.exit(f"{args.csweep} does not exist: build it with `bash scripts/build.sh`, or leave csweep out "
                     f"with --tools transformer_lens,nnsight")
        workdir = ROOT / "build" / "peers" / "csweep"
        workdir.mkdir(parents=True, exist_ok=True)
        results["csweep"] = run_csweep(args.csweep, path, clean, corrupted, answer, wrong, workdir, args.threads,
                                       args.dtype)
        if args.forward:
            results["csweep"]["forward"] = csweep_forwards(args.bench_forward, path, args.dtype, args.threads)
        print("csweep done", {k: round(results["csweep"][k]["seconds"], 2) for k in SWEEPS}, flush=True)
    if "nnsight" in tools:
        results["nnsight"] = run_nnsight(hf, clean, corrupted, answer, wrong, args.batch)
        if args.forward:  # nnsight runs the Transformers model: its plain forward is Transformers'
            results["nnsight"]["forward"] = time_forwards(lambda t: hf(t, logits_to_keep=1), hf.config.vocab_size)
        print("nnsight done", {k: round(results["nnsight"][k]["seconds"], 2) for k in SWEEPS}, flush=True)
    if "transformer_lens" in tools:
        if args.quick:
            print(f"--quick: TransformerLens runs layers {layers} only; its seconds are extrapolated "
                  f"x{n_layers / len(layers):g} (every patch costs it one full forward)", flush=True)
        results["transformer_lens"] = run_transformer_lens(path, hf, clean, corrupted, answer, wrong, layers,
                                                           dtype, args.forward)

    # tables: every pair of tools, on the cells both computed
    diffs, ok = {}, True
    names = list(results)
    for sweep in SWEEPS:
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                d, where = max_diff(results[a][sweep]["table"], results[b][sweep]["table"])
                if d is None:
                    continue
                diffs[f"{sweep}: {a} vs {b}"] = dict(max_abs_diff=d, at=where)
                ok &= d <= args.tol or args.dtype != "float32"
    print("\nmax |diff| between tables (index: layer, pos[, head]):")
    for k, v in diffs.items():
        flag = "ok" if v["max_abs_diff"] <= args.tol else f"EXCEEDS {args.tol:g}"
        if args.dtype != "float32":
            flag = "(bf16: reported, not checked)"
        print(f"  {k:45s} {v['max_abs_diff']:.2e} at {v['at']}  {flag}")

    print(f"\nseconds per sweep ({args.threads} threads, {args.dtype}; csweep: the whole `csweep run` process, start-up "
          f"and model load included; Python tools: the sweep call, model loaded; X / csweep: how many times faster "
          f"csweep is)")
    head = f"{'sweep':15s} {'patches':>8s}" + "".join(f" {n:>18s}" for n in names)
    ratios = {}
    for other in ("transformer_lens", "nnsight"):
        if "csweep" in results and other in results:
            head += f" {('TL' if other == 'transformer_lens' else other) + ' / csweep':>18s}"
    print(head)
    for sweep in SWEEPS:
        n = max(r[sweep]["patches"] for r in results.values() if not r[sweep]["extrapolated"]) \
            if any(not r[sweep]["extrapolated"] for r in results.values()) else "?"
        line = f"{sweep:15s} {n:>8}"
        for name in names:
            r = results[name][sweep]
            line += f" {r['seconds']:17.2f}{'*' if r['extrapolated'] else ' '}"
        for other in ("transformer_lens", "nnsight"):
            if "csweep" in results and other in results:
                ratio = results[other][sweep]["seconds"] / results["csweep"][sweep]["seconds"]
                ratios[f"{sweep}: csweep vs {other}"] = ratio
                line += f" {ratio:17.1f}x"
        print(line)
    if any(r[s]["extrapolated"] for r in results.values() for s in SWEEPS):
        print(f"* extrapolated (--quick): TransformerLens timed layers {layers} "
              f"and its time is scaled by {n_layers / len(layers):g}")

    if args.forward:
        print(f"\nms per plain forward (best of 3; logits at the last position; nnsight = its Transformers model; "
              f"csweep = bench_forward --model):")
        for shape in (f"1x{N_TOKENS}", f"32x{N_TOKENS}"):
            print(f"  {shape:7s}" + "".join(f" {n}: {results[n]['forward'].get(shape, float('nan')):9.1f}"
                                         for n in names if "forward" in results[n]))

    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min) before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f} ({os.cpu_count()} cores: "
          f"much above {args.threads} means other processes shared the cores and the seconds are inflated)")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        from importlib.metadata import version
        report = dict(
            date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            machine=dict(cpu=cpu_name(), cores=os.cpu_count(),
                         load_before=load_before, load_after=load_after),
            command=" ".join(sys.argv), checkpoint=str(path), threads=args.threads, dtype=args.dtype,
            quick=args.quick, quick_layers=layers if args.quick else None,
            prompt=dict(clean=clean.tolist(), corrupted=corrupted.tolist(), answer=answer, wrong=wrong),
            versions=dict(torch=torch.__version__, transformers=transformers.__version__,
                          transformer_lens=version("transformer-lens"), nnsight=version("nnsight")),
            seconds={n: {s: r[s]["seconds"] for s in SWEEPS} for n, r in results.items()},
            timed_seconds={n: {s: r[s].get("timed_seconds", r[s]["seconds"]) for s in SWEEPS}
                           for n, r in results.items()},
            extrapolated={n: {s: r[s]["extrapolated"] for s in SWEEPS} for n, r in results.items()},
            ratios=ratios, diffs=diffs, tolerance=args.tol, tables_equal=ok,
            tables={n: {s: np.where(np.isnan(r[s]["table"]), None, r[s]["table"]).tolist() for s in SWEEPS}
                    for n, r in results.items()},
            forward_ms={n: r["forward"] for n, r in results.items() if "forward" in r},
        )
        args.json.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}")
    if not ok:
        print(f"TABLES DIFFER by more than {args.tol:g} (see above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
