"""Checks examples/weight_norms.yaml's reduced store (argv[1]) against norms computed here,
densely, from the fixture's Hugging Face GPT-2 weights (argv[2]/model.safetensors): for every
head, ||W_V[h] W_O[h]||_F and ||W_Q[h] W_K[h]^T||_F of the d_model x d_model products.
Exit 0 = they agree."""
import json
import sys

import h5py
import numpy as np

from safetensors_np import safetensors


store, model_dir = sys.argv[1], sys.argv[2]
config = json.load(open(model_dir + "/config.json"))
w = safetensors(model_dir + "/model.safetensors")
d, n_heads = config["n_embd"], config["n_head"]
dh = d // n_heads
prefix = "transformer." if any(k.startswith("transformer.") for k in w) else ""
expected = np.zeros((2, config["n_layer"], n_heads))
for layer in range(config["n_layer"]):
    c_attn = w[f"{prefix}h.{layer}.attn.c_attn.weight"]  # Conv1D [d, 3d]: x @ W
    c_proj = w[f"{prefix}h.{layer}.attn.c_proj.weight"]  # Conv1D [d, d]: z @ W
    for h in range(n_heads):
        cols = slice(h * dh, (h + 1) * dh)
        W_Q, W_K, W_V = c_attn[:, :d][:, cols], c_attn[:, d:2 * d][:, cols], c_attn[:, 2 * d:][:, cols]
        W_O = c_proj[cols, :]
        expected[0, layer, h] = np.linalg.norm(W_V @ W_O)
        expected[1, layer, h] = np.linalg.norm(W_Q @ W_K.T)

group = h5py.File(store + "/sweep.h5", "r")["analyses"]["head_norms"]
axes = [a.decode() if isinstance(a, bytes) else str(a) for a in group.attrs["axes"]]
assert axes == ["quantity", "layer", "head"], axes
got = np.asarray(group["mean"][()], dtype=np.float64)
assert got.shape == expected.shape, (got.shape, expected.shape)
err = np.max(np.abs(got - expected) / expected)
print(f"weight_norms: max relative error {err:.2e} over {got.size} heads")
sys.exit(0 if err < 1e-5 else 1)
