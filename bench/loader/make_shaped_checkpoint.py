#!/usr/bin/env python3
"""Writes a Llama-family checkpoint folder of a given shape whose tensor data is never written:
config.json, model.safetensors.index.json and sparse shards (each safetensors header is real; the
file is extended to its full length with truncate, so a 70B-shaped folder of 138 GB takes a few
MB of disk). For `csweep plan` and `csweep validate`, which read headers and sizes but no data;
loading it gives zeros. Standard library only.

Usage: python3 make_shaped_checkpoint.py OUT_DIR [--preset llama-2-70b|llama-2-13b]
"""
import argparse
import json
import os
import struct

PRESETS = {
    # Llama-2-70B: 80 layers, 64 query heads over 8 KV heads, SwiGLU 28672, vocab 32000.
    "llama-2-70b": dict(d=8192, layers=80, heads=64, kv=8, mlp=28672, vocab=32000),
    "llama-2-13b": dict(d=5120, layers=40, heads=40, kv=40, mlp=13824, vocab=32000),
}


def tensors(p):
    d, dh = p["d"], p["d"] // p["heads"]
    kvd = p["kv"] * dh
    yield "model.embed_tokens.weight", [p["vocab"], d]
    for l in range(p["layers"]):
        a = f"model.layers.{l}."
        yield a + "input_layernorm.weight", [d]
        yield a + "self_attn.q_proj.weight", [d, d]
        yield a + "self_attn.k_proj.weight", [kvd, d]
        yield a + "self_attn.v_proj.weight", [kvd, d]
        yield a + "self_attn.o_proj.weight", [d, d]
        yield a + "post_attention_layernorm.weight", [d]
        yield a + "mlp.gate_proj.weight", [p["mlp"], d]
        yield a + "mlp.up_proj.weight", [p["mlp"], d]
        yield a + "mlp.down_proj.weight", [d, p["mlp"]]
    yield "model.norm.weight", [d]
    yield "lm_head.weight", [p["vocab"], d]


def write_shard(path, entries):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in entries:
        n = 2
        for s in shape:
            n *= s
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * ((-(8 + len(text))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
    os.truncate(path, 8 + len(text) + offset)
    return offset


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--preset", default="llama-2-70b", choices=sorted(PRESETS))
    ap.add_argument("--shard-bytes", type=int, default=5 << 30)
    a = ap.parse_args()
    p = PRESETS[a.preset]
    os.makedirs(a.out, exist_ok=True)
    shards, current, size = [], [], 0
    for name, shape in tensors(p):
        n = 2
        for s in shape:
            n *= s
        if current and size + n > a.shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += n
    shards.append(current)
    weight_map, total = {}, 0
    for i, entries in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += write_shard(os.path.join(a.out, fname), entries)
        for name, _ in entries:
            weight_map[name] = fname
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": p["d"],
        "intermediate_size": p["mlp"], "num_attention_heads": p["heads"],
        "num_key_value_heads": p["kv"], "num_hidden_layers": p["layers"],
        "vocab_size": p["vocab"], "max_position_embeddings": 4096, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
    }
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    print(f"{a.out}: {a.preset}, {len(shards)} shards, {total / 2**30:.1f} GiB of bf16 (sparse)")


if __name__ == "__main__":
    main()
