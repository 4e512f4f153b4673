"""Checks examples/weight_circuits.yaml's reduced store (argv[1]) against values computed here,
densely, from the bundled model's Hugging Face GPT-2 weights (argv[2]/model.safetensors), then
prints what the example finds. Independent of csweep's code:
  - composition scores by TransformerLens's utils.composition_scores re-derived on the
    d_model x d_model matrices: ||left @ right||_F / (||left||_F ||right||_F), left = OV_A,
    right = QK_B (q), QK_B^T (k), OV_B (v), 0 unless layer_A < layer_B;
  - copying scores from the eigenvalues of the d_vocab x d_vocab W_E OV W_U: Re sum / sum |.|;
  - previous-token scores from the layer's attention on ln_1(W_pos) alone.
Exit 0 = they agree and the induction circuit shows."""
import json
import sys

import h5py
import numpy as np

from safetensors_np import safetensors

store, model_dir = sys.argv[1], sys.argv[2]
config = json.load(open(model_dir + "/config.json"))
w = safetensors(model_dir + "/model.safetensors")
p = "transformer." if any(k.startswith("transformer.") for k in w) else ""
d, H, L = config["n_embd"], config["n_head"], config["n_layer"]
dh = d // H
W_E, W_pos = w[p + "wte.weight"], w[p + "wpe.weight"]
W_U = w["lm_head.weight"].T if "lm_head.weight" in w else W_E.T  # tied: TL's W_U = W_E^T


def head(layer, h):
    c_attn, b_attn = w[f"{p}h.{layer}.attn.c_attn.weight"], w[f"{p}h.{layer}.attn.c_attn.bias"]
    cols = slice(h * dh, (h + 1) * dh)
    W_Q, W_K, W_V = (c_attn[:, i * d:(i + 1) * d][:, cols] for i in range(3))
    b_Q, b_K = b_attn[:d][cols], b_attn[d:2 * d][cols]
    W_O = w[f"{p}h.{layer}.attn.c_proj.weight"][cols, :]
    return dict(OV=W_V @ W_O, QK=W_Q @ W_K.T, W_Q=W_Q, W_K=W_K, b_Q=b_Q, b_K=b_K)


heads = [[head(layer, h) for h in range(H)] for layer in range(L)]


def comp(a, b, mode):
    right = {"q": b["QK"], "k": b["QK"].T, "v": b["OV"]}[mode]
    den = np.linalg.norm(a["OV"]) * np.linalg.norm(right)
    return np.linalg.norm(a["OV"] @ right) / den if den > 0 else 0.0


def previous_token(layer, h):
    g, b = w[f"{p}h.{layer}.ln_1.weight"], w[f"{p}h.{layer}.ln_1.bias"]
    mu, var = W_pos.mean(-1, keepdims=True), W_pos.var(-1, keepdims=True)
    x = (W_pos - mu) / np.sqrt(var + config["layer_norm_epsilon"]) * g + b
    e = heads[layer][h]
    s = (x @ e["W_Q"] + e["b_Q"]) @ (x @ e["W_K"] + e["b_K"]).T / np.sqrt(dh)
    s[np.triu_indices(len(s), 1)] = -np.inf
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    return np.mean(np.diagonal(a, -1))


def copying(layer, h):
    eig = np.linalg.eigvals(W_E @ heads[layer][h]["OV"] @ W_U)
    return eig.sum().real / np.abs(eig).sum()


def analysis(name, axes):
    g = h5py.File(store + "/sweep.h5", "r")["analyses"][name]
    got = [a.decode() if isinstance(a, bytes) else str(a) for a in g.attrs["axes"]]
    assert got == axes, got
    return np.asarray(g["mean"][()], dtype=np.float64)[0]  # processing: none


scores = analysis("head_scores", ["processing", "score", "layer", "head"])
want = np.array([[[copying(l, h) for h in range(H)] for l in range(L)],
                 [[previous_token(l, h) for h in range(H)] for l in range(L)]])
err_heads = np.max(np.abs(scores - want))
compo = analysis("composition", ["processing", "composition", "source_layer", "source_head",
                                 "layer", "head"])
want_c = np.array([[[[[comp(heads[la][ha], heads[lb][hb], m) if la < lb else 0.0
                       for hb in range(H)] for lb in range(L)] for ha in range(H)]
                    for la in range(L)] for m in "qkv"])
err_comp = np.max(np.abs(compo - want_c))
print(f"head_circuits: max abs error {err_heads:.2e}; composition_scores: {err_comp:.2e}")

np.set_printoptions(precision=3, suppress=True)
print("copying [layer, head]:\n", scores[0])
print("previous_token [layer, head]:\n", scores[1])
for m, name in enumerate("qkv"):
    print(f"{name}-composition, layer-0 head (row) into layer-1 head (column):\n", compo[m, 0, :, 1])
# The circuit: the previous-token head is 0.0, and the induction heads' keys read it: K-comp
# of 0.0 into each layer-1 head that reads it most is the largest of all layer 0 -> 1 pairs.
prev = np.unravel_index(np.argmax(scores[1]), scores[1].shape)
k = compo[1, 0, :, 1]  # [head_A, head_B]
top = np.unravel_index(np.argmax(k), k.shape)
print(f"previous-token head: {prev[0]}.{prev[1]}; top K-composition: 0.{top[0]} -> 1.{top[1]} "
      f"({k[top]:.3f}; median of all pairs {np.median(k):.3f})")
ok = err_heads < 1e-4 and err_comp < 1e-5 and prev == (0, 0) and top[0] == 0
ok = ok and k[top] > 1.5 * np.median(k)
sys.exit(0 if ok else 1)
