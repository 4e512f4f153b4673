#!/usr/bin/env python3
"""Writes random Hugging Face checkpoint folders (config.json + safetensors, F32, the exact HF
tensor names) for bench_forward. The format is written by hand (no safetensors package).

  gpt2-small/   GPT2LMHeadModel: 12 layers, 768 wide, 12 heads, vocab 50257 (model.safetensors)
  llama-small/  LlamaForCausalLM: 12 layers, 768 wide, 12 heads / 4 KV heads, SwiGLU 2048,
                vocab 32000, untied (2 shards + model.safetensors.index.json)

Usage: third_party/venv/bin/python make_random_checkpoint.py OUT_DIR
"""
import json
import os
import struct
import sys

import torch


def write_safetensors(path, tensors):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors:
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * ((-(8 + len(text))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, t in tensors:
            f.write(t.contiguous().numpy().tobytes())


def gpt2(out):
    d, L, V, P, m = 768, 12, 50257, 1024, 3072
    r = lambda *s: torch.randn(*s) * 0.02
    t = [("wte.weight", r(V, d)), ("wpe.weight", r(P, d))]
    for l in range(L):
        p = f"h.{l}."
        t += [(p + "ln_1.weight", torch.ones(d)), (p + "ln_1.bias", torch.zeros(d)),
              (p + "attn.c_attn.weight", r(d, 3 * d)), (p + "attn.c_attn.bias", r(3 * d)),
              (p + "attn.c_proj.weight", r(d, d)), (p + "attn.c_proj.bias", r(d)),
              (p + "ln_2.weight", torch.ones(d)), (p + "ln_2.bias", torch.zeros(d)),
              (p + "mlp.c_fc.weight", r(d, m)), (p + "mlp.c_fc.bias", r(m)),
              (p + "mlp.c_proj.weight", r(m, d)), (p + "mlp.c_proj.bias", r(d))]
    t += [("ln_f.weight", torch.ones(d)), ("ln_f.bias", torch.zeros(d))]
    os.makedirs(out, exist_ok=True)
    write_safetensors(f"{out}/model.safetensors", t)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": L, "n_embd": d,
              "n_head": 12, "n_inner": None, "n_positions": P, "n_ctx": P, "vocab_size": V,
              "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "tie_word_embeddings": True, "torch_dtype": "float32"}
    json.dump(config, open(f"{out}/config.json", "w"), indent=2)


def llama(out):
    d, L, V, h, kv, m = 768, 12, 32000, 12, 4, 2048
    dh = d // h
    r = lambda *s: torch.randn(*s) * 0.02
    t = [("model.embed_tokens.weight", r(V, d))]
    for l in range(L):
        p = f"model.layers.{l}."
        t += [(p + "input_layernorm.weight", torch.ones(d)),
              (p + "self_attn.q_proj.weight", r(h * dh, d)), (p + "self_attn.k_proj.weight", r(kv * dh, d)),
              (p + "self_attn.v_proj.weight", r(kv * dh, d)), (p + "self_attn.o_proj.weight", r(d, h * dh)),
              (p + "post_attention_layernorm.weight", torch.ones(d)),
              (p + "mlp.gate_proj.weight", r(m, d)), (p + "mlp.up_proj.weight", r(m, d)),
              (p + "mlp.down_proj.weight", r(d, m))]
    t += [("model.norm.weight", torch.ones(d)), ("lm_head.weight", r(V, d))]
    os.makedirs(out, exist_ok=True)
    half = len(t) // 2
    weight_map = {}
    for k, part in enumerate([t[:half], t[half:]], 1):
        name = f"model-{k:05d}-of-00002.safetensors"
        write_safetensors(f"{out}/{name}", part)
        weight_map.update({n: name for n, _ in part})
    json.dump({"metadata": {"total_size": sum(x.numel() * 4 for _, x in t)}, "weight_map": weight_map},
              open(f"{out}/model.safetensors.index.json", "w"), indent=2)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": d,
              "intermediate_size": m, "num_hidden_layers": L, "num_attention_heads": h,
              "num_key_value_heads": kv, "vocab_size": V, "max_position_embeddings": 2048,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
              "tie_word_embeddings": False, "attention_bias": False, "torch_dtype": "float32"}
    json.dump(config, open(f"{out}/config.json", "w"), indent=2)


if __name__ == "__main__":
    torch.manual_seed(0)
    gpt2(os.path.join(sys.argv[1], "gpt2-small"))
    llama(os.path.join(sys.argv[1], "llama-small"))
