#!/usr/bin/env python3
"""Writes small random checkpoints in the exact Hugging Face layout (config.json keys and
tensor names as the HF modelling classes read and save them) plus reference logits computed
by an implementation written here from the HF formulas (not by the code under test).

usage: third_party/venv/bin/python make_arch_fixtures.py OUT_DIR
Creates OUT_DIR/<variant>/{config.json, model.safetensors, reference.safetensors} for every
variant in VARIANTS. reference.safetensors holds `tokens` (int64 [2, 8]) and `logits`
(float32 [2, 8, vocab]). Needs only torch and its numpy (third_party/venv, from
scripts/install-deps.sh); reads the gpt2-tiny fixture with tests/examples/safetensors_np.py.
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
from safetensors_np import safetensors  # noqa: E402

D, H, L, VOCAB, MLP, SEQ, BATCH = 64, 4, 2, 97, 128, 8, 2

# ---- safetensors writer (the format is 8-byte header length + JSON + raw bytes) ----
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bf16: move the raw 16-bit words
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """A float32 file as float32 tensors (read by the example checks' reader: float64 holds every
    float32 exactly)."""
    return {name: torch.from_numpy(a).float() for name, a in safetensors(path).items()}


# ---- random parameters, as the fixture README draws them ----
class Rand:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def n(self, *shape, std=1.0, mean=0.0):
        return (mean + std * torch.randn(*shape, generator=self.g)).float()

    def norm(self, n):
        return self.n(n, std=0.2, mean=1.0)

    def bias(self, n):
        return self.n(n, std=0.1)

    def mat(self, out, inp):
        return self.n(out, inp, std=0.15)

    def embed(self, v, d):
        return self.n(v, d, std=0.5)


# ---- reference formulas (float64) ----
def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):  # LlamaRMSNorm
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def inv_freq_for(cfg, rot):
    base = cfg.get("rope_theta", cfg.get("rotary_emb_base", 10000.0))
    inv = 1.0 / (base ** (torch.arange(0, rot, 2, dtype=torch.int64).float() / rot))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type") == "llama3":  # transformers _compute_llama3_parameters
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wl = 2 * math.pi / inv
        inv_l = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wl < high_wl) * ~(wl > low_wl)
        inv = torch.where(medium, smoothed, inv_l)
    if rs and rs.get("rope_type") == "linear":
        inv = inv / rs["factor"]
    return inv


def rope(q, k, cfg, rot, seq):
    # q, k: [b, heads, seq, d_head]; rotary on the first `rot` dims (NeoX partial rotary)
    inv = inv_freq_for(cfg, rot)
    t = torch.arange(seq, dtype=torch.float32)
    freqs = torch.outer(t, inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos().double(), emb.sin().double()
    def apply(x):
        xr, xp = x[..., :rot], x[..., rot:]
        return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)
    return apply(q), apply(k)


def attend(q, k, v, scale, window=None):
    # q [b, h, s, dh]; k, v [b, hkv, s, dh] -> z [b, s, h*dh]
    h, hkv = q.shape[1], k.shape[1]
    k = k.repeat_interleave(h // hkv, dim=1)  # repeat_kv: query head i -> kv head i // (h/hkv)
    v = v.repeat_interleave(h // hkv, dim=1)
    s = q.shape[2]
    scores = q @ k.transpose(-1, -2) * scale
    i = torch.arange(s)[:, None]
    j = torch.arange(s)[None, :]
    allowed = j <= i
    if window:
        allowed = allowed & (i - j < window)
    scores = scores.masked_fill(~allowed, float("-inf"))
    z = scores.softmax(-1) @ v
    return z.transpose(1, 2).reshape(q.shape[0], s, -1)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def ref_gpt_neox(cfg, p, tokens):
    W = {k: v.double() for k, v in p.items()}
    nh, d = cfg["num_attention_heads"], cfg["hidden_size"]
    dh = d // nh
    rot = int(dh * cfg["rotary_pct"])
    eps = cfg["layer_norm_eps"]
    b, s = tokens.shape
    x = W["gpt_neox.embed_in.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        pre = f"gpt_neox.layers.{l}."
        h1 = layer_norm(x, W[pre + "input_layernorm.weight"], W[pre + "input_layernorm.bias"], eps)
        qkv = h1 @ W[pre + "attention.query_key_value.weight"].T + W[pre + "attention.query_key_value.bias"]
        qkv = qkv.view(b, s, nh, 3 * dh)  # GPTNeoXAttention: per-head [q | k | v]
        q, k, v = [t.permute(0, 2, 1, 3) for t in qkv.split(dh, dim=-1)]
        q, k = rope(q, k, cfg, rot, s)
        z = attend(q, k, v, 1.0 / math.sqrt(dh))
        attn = z @ W[pre + "attention.dense.weight"].T + W[pre + "attention.dense.bias"]
        def mlp(hh):
            u = hh @ W[pre + "mlp.dense_h_to_4h.weight"].T + W[pre + "mlp.dense_h_to_4h.bias"]
            return gelu_erf(u) @ W[pre + "mlp.dense_4h_to_h.weight"].T + W[pre + "mlp.dense_4h_to_h.bias"]
        ln2 = lambda t: layer_norm(t, W[pre + "post_attention_layernorm.weight"], W[pre + "post_attention_layernorm.bias"], eps)
        if cfg["use_parallel_residual"]:
            x = mlp(ln2(x)) + attn + x
        else:
            x = x + attn
            x = mlp(ln2(x)) + x
    x = layer_norm(x, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
    return x @ W["embed_out.weight"].T


def ref_llama_family(cfg, p, tokens):
    W = {k: v.double() for k, v in p.items()}
    nh, nkv, d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"]
    dh = cfg.get("head_dim") or d // nh
    eps = cfg["rms_norm_eps"]
    qwen3 = cfg["model_type"] == "qwen3"
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None
    b, s = tokens.shape
    x = W["model.embed_tokens.weight"][tokens]
    def lin(t, name):
        y = t @ W[name + ".weight"].T
        return y + W[name + ".bias"] if name + ".bias" in W else y
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h1 = rms_norm(x, W[pre + "input_layernorm.weight"], eps)
        q = lin(h1, pre + "self_attn.q_proj").view(b, s, nh, dh)
        k = lin(h1, pre + "self_attn.k_proj").view(b, s, nkv, dh)
        v = lin(h1, pre + "self_attn.v_proj").view(b, s, nkv, dh)
        if qwen3:  # Qwen3Attention: q_norm/k_norm over head_dim before rotary
            q = rms_norm(q, W[pre + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[pre + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = rope(q, k, cfg, dh, s)
        z = attend(q, k, v, 1.0 / math.sqrt(dh), window)
        x = x + lin(z, pre + "self_attn.o_proj")
        h2 = rms_norm(x, W[pre + "post_attention_layernorm.weight"], eps)
        gate, up = lin(h2, pre + "mlp.gate_proj"), lin(h2, pre + "mlp.up_proj")
        x = x + lin(torch.nn.functional.silu(gate) * up, pre + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    unembed = W["lm_head.weight"] if "lm_head.weight" in W else W["model.embed_tokens.weight"]
    return x @ unembed.T


def gemma_norm(x, w, eps):  # Gemma3RMSNorm: scales by (1 + weight)
    return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)) * (1.0 + w)


def ref_gemma3(cfg, p, tokens):
    """Gemma3ForCausalLM: embedding times sqrt(d), q/k norms, query_pre_attn_scalar, norms around
    both halves, GeGLU, sliding-window layers with their own rope base, final softcapping."""
    W = {k: v.double() for k, v in p.items()}
    nh, nkv, d, dh = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["hidden_size"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    b, s = tokens.shape
    x = W["model.embed_tokens.weight"][tokens] * math.sqrt(d)
    lin = lambda t, name: t @ W[name + ".weight"].T
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        local = cfg["layer_types"][l] == "sliding_attention"
        rope_cfg = {"rope_theta": cfg["rope_local_base_freq"]} if local else cfg
        h1 = gemma_norm(x, W[pre + "input_layernorm.weight"], eps)
        q = gemma_norm(lin(h1, pre + "self_attn.q_proj").view(b, s, nh, dh), W[pre + "self_attn.q_norm.weight"], eps)
        k = gemma_norm(lin(h1, pre + "self_attn.k_proj").view(b, s, nkv, dh), W[pre + "self_attn.k_norm.weight"], eps)
        v = lin(h1, pre + "self_attn.v_proj").view(b, s, nkv, dh)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = rope(q, k, rope_cfg, dh, s)
        z = attend(q, k, v, cfg["query_pre_attn_scalar"] ** -0.5, cfg["sliding_window"] if local else None)
        x = x + gemma_norm(lin(z, pre + "self_attn.o_proj"), W[pre + "post_attention_layernorm.weight"], eps)
        h2 = gemma_norm(x, W[pre + "pre_feedforward_layernorm.weight"], eps)
        mlp = lin(gelu_tanh(lin(h2, pre + "mlp.gate_proj")) * lin(h2, pre + "mlp.up_proj"), pre + "mlp.down_proj")
        x = x + gemma_norm(mlp, W[pre + "post_feedforward_layernorm.weight"], eps)
    logits = gemma_norm(x, W["model.norm.weight"], eps) @ W["model.embed_tokens.weight"].T
    cap = cfg["final_logit_softcapping"]
    return torch.tanh(logits / cap) * cap


# ---- checkpoint writers ----
def neox_checkpoint(cfg, r):
    d, m, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    p = {"gpt_neox.embed_in.weight": r.embed(V, d)}
    for l in range(cfg["num_hidden_layers"]):
        pre = f"gpt_neox.layers.{l}."
        p[pre + "input_layernorm.weight"] = r.norm(d)
        p[pre + "input_layernorm.bias"] = r.bias(d)
        p[pre + "post_attention_layernorm.weight"] = r.norm(d)
        p[pre + "post_attention_layernorm.bias"] = r.bias(d)
        p[pre + "attention.query_key_value.weight"] = r.mat(3 * d, d)
        p[pre + "attention.query_key_value.bias"] = r.bias(3 * d)
        p[pre + "attention.dense.weight"] = r.mat(d, d)
        p[pre + "attention.dense.bias"] = r.bias(d)
        p[pre + "mlp.dense_h_to_4h.weight"] = r.mat(m, d)
        p[pre + "mlp.dense_h_to_4h.bias"] = r.bias(m)
        p[pre + "mlp.dense_4h_to_h.weight"] = r.mat(d, m)
        p[pre + "mlp.dense_4h_to_h.bias"] = r.bias(d)
    p["gpt_neox.final_layer_norm.weight"] = r.norm(d)
    p["gpt_neox.final_layer_norm.bias"] = r.bias(d)
    p["embed_out.weight"] = r.mat(V, d)
    return p


def llama_checkpoint(cfg, r):
    d, m, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    dh = cfg.get("head_dim") or d // nh
    qkv_bias = cfg["model_type"] == "qwen2"
    gemma = cfg["model_type"] == "gemma3_text"
    # Gemma's norms scale by 1 + w: its weights are offsets around 0
    norm = (lambda n: r.n(n, std=0.2)) if gemma else r.norm
    p = {"model.embed_tokens.weight": r.embed(V, d)}
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        p[pre + "input_layernorm.weight"] = norm(d)
        p[pre + "self_attn.q_proj.weight"] = r.mat(nh * dh, d)
        p[pre + "self_attn.k_proj.weight"] = r.mat(nkv * dh, d)
        p[pre + "self_attn.v_proj.weight"] = r.mat(nkv * dh, d)
        if qkv_bias:
            p[pre + "self_attn.q_proj.bias"] = r.bias(nh * dh)
            p[pre + "self_attn.k_proj.bias"] = r.bias(nkv * dh)
            p[pre + "self_attn.v_proj.bias"] = r.bias(nkv * dh)
        if cfg["model_type"] in ("qwen3", "gemma3_text"):
            p[pre + "self_attn.q_norm.weight"] = norm(dh)
            p[pre + "self_attn.k_norm.weight"] = norm(dh)
        if gemma:
            p[pre + "pre_feedforward_layernorm.weight"] = norm(d)
            p[pre + "post_feedforward_layernorm.weight"] = norm(d)
        p[pre + "self_attn.o_proj.weight"] = r.mat(d, nh * dh)
        p[pre + "post_attention_layernorm.weight"] = norm(d)
        p[pre + "mlp.gate_proj.weight"] = r.mat(m, d)
        p[pre + "mlp.up_proj.weight"] = r.mat(m, d)
        p[pre + "mlp.down_proj.weight"] = r.mat(d, m)
    p["model.norm.weight"] = norm(d)
    if not cfg["tie_word_embeddings"]:
        p["lm_head.weight"] = r.mat(V, d)
    return p


def neox_config(parallel, rotary_pct):
    return {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": D,
            "num_attention_heads": H, "num_hidden_layers": L, "intermediate_size": MLP, "vocab_size": VOCAB,
            "max_position_embeddings": 64, "rotary_pct": rotary_pct, "rotary_emb_base": 10000,
            "layer_norm_eps": 1e-5, "hidden_act": "gelu", "use_parallel_residual": parallel,
            "tie_word_embeddings": False, "torch_dtype": "float32"}


def llama_config(arch, model_type, kv, tie, **extra):
    c = {"architectures": [arch], "model_type": model_type, "hidden_size": D, "num_attention_heads": H,
         "num_key_value_heads": kv, "num_hidden_layers": L, "intermediate_size": MLP, "vocab_size": VOCAB,
         "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "hidden_act": "silu", "rope_theta": 10000.0,
         "tie_word_embeddings": tie, "torch_dtype": "float32"}
    c.update(extra)
    return c


LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 16}

VARIANTS = {
    "neox_parallel": neox_config(True, 0.25),
    "neox_sequential": neox_config(False, 0.5),
    "llama_gqa_llama3_tied": llama_config("LlamaForCausalLM", "llama", 2, True, rope_theta=500000.0,
                                          rope_scaling=LLAMA3),
    "llama_untied": llama_config("LlamaForCausalLM", "llama", 1, False),
    "mistral": llama_config("MistralForCausalLM", "mistral", 2, False, sliding_window=3),
    "qwen2": llama_config("Qwen2ForCausalLM", "qwen2", 2, True, rope_theta=1000000.0, use_sliding_window=False),
    "qwen3": llama_config("Qwen3ForCausalLM", "qwen3", 2, False, head_dim=24, rope_theta=1000000.0),
    # a sliding-window layer (window 3 of the 8 positions, rope base 10000) then a global one
    # (rope base 1e6, linear scaling), final logit softcapping
    "gemma3": llama_config("Gemma3ForCausalLM", "gemma3_text", 2, True, head_dim=24,
                           hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=32, sliding_window=3,
                           layer_types=["sliding_attention", "full_attention"], rope_theta=1000000.0,
                           rope_local_base_freq=10000.0, rope_scaling={"rope_type": "linear", "factor": 2.0},
                           final_logit_softcapping=5.0),
    # weights stored in half precision; the reference uses the same rounded weights
    "llama_f16": llama_config("LlamaForCausalLM", "llama", 2, False, torch_dtype="float16"),
    "llama_bf16": llama_config("LlamaForCausalLM", "llama", 2, False, torch_dtype="bfloat16"),
}


def write_variant(out, name, cfg, seed):
    r = Rand(seed)
    neox = cfg["model_type"] == "gpt_neox"
    p = neox_checkpoint(cfg, r) if neox else llama_checkpoint(cfg, r)
    store = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(cfg["torch_dtype"])
    if store is not None:
        p = {k: v.to(store) for k, v in p.items()}
    tokens = torch.randint(0, cfg["vocab_size"], (BATCH, SEQ), generator=r.g)
    ref = ref_gpt_neox if neox else ref_gemma3 if cfg["model_type"] == "gemma3_text" else ref_llama_family
    with torch.no_grad():
        logits = ref(cfg, {k: v.float() for k, v in p.items()}, tokens)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), p)
    save_safetensors(os.path.join(d, "reference.safetensors"), {"tokens": tokens, "logits": logits.float()})


def write_gpt2_prefixed(out, fixture):
    """The gpt2-tiny fixture re-saved the way save_pretrained writes it: `transformer.` prefix,
    the tied lm_head.weight and the attn.bias / attn.masked_bias buffers of old files."""
    p = load_safetensors(os.path.join(fixture, "model.safetensors"))
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    q = {"transformer." + k: v for k, v in p.items()}
    n_ctx = cfg["n_positions"]
    for l in range(cfg["n_layer"]):
        q[f"transformer.h.{l}.attn.bias"] = torch.tril(torch.ones(n_ctx, n_ctx)).view(1, 1, n_ctx, n_ctx)
        q[f"transformer.h.{l}.attn.masked_bias"] = torch.tensor(-1e4)
    q["lm_head.weight"] = p["wte.weight"].clone()
    d = os.path.join(out, "gpt2_prefixed")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(d, "model.safetensors"), q)


def write_broken(out):
    """Copies of llama_untied with one defect each, for the loader's error paths."""
    cfg = VARIANTS["llama_untied"]
    p = llama_checkpoint(cfg, Rand(7))
    cases = {
        "broken_missing_tensor": {k: v for k, v in p.items() if k != "model.layers.1.mlp.up_proj.weight"},
        "broken_bad_shape": dict(p, **{"model.layers.0.self_attn.o_proj.weight": torch.zeros(D, D + 1)}),
        "extra_tensor": dict(p, **{"model.layers.0.self_attn.extra_proj.weight": torch.zeros(4, 4)}),
    }
    for name, tensors in cases.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        save_safetensors(os.path.join(d, "model.safetensors"), tensors)


def main():
    out = sys.argv[1]
    fixture = sys.argv[2] if len(sys.argv) > 2 else None
    for i, (name, cfg) in enumerate(VARIANTS.items()):
        write_variant(out, name, cfg, 1000 + i)
    write_broken(out)
    if fixture:
        write_gpt2_prefixed(out, fixture)


if __name__ == "__main__":
    main()
