"""Trains the example's SAE on the bundled model and saves it with SAELens (save_model).

usage: PYTHON train_example_sae.py MODEL_DIR OUT_DIR   (make_sae_fixtures.sh runs it)

128 ReLU features (SAELens StandardSAE) at blocks.1.hook_resid_post of examples/models/
induction-2l (Hugging Face's GPT-2 forward, block 1's output), trained with Adam on an L2
reconstruction + L1 sparsity loss (decoder rows kept at unit norm) over sequences like the
bundled model's training data: random tokens in [32, 256) in which one segment repeats. Prints,
per feature, how often it fires on the repeated copy and elsewhere; a few seconds on 2 cores.
"""
import sys

import torch
from transformers import GPT2LMHeadModel

from sae_lens import StandardSAE, StandardSAEConfig
from sae_lens.saes.sae import SAEMetadata

torch.manual_seed(0)
torch.set_num_threads(1)
model_dir, out = sys.argv[1], sys.argv[2]
model = GPT2LMHeadModel.from_pretrained(model_dir).eval()


def batch(n, seq=40):
    """Random tokens with one repeated segment; `repeated` marks the second copy's positions."""
    tokens = torch.randint(32, 256, (n, seq))
    repeated = torch.zeros(n, seq, dtype=torch.bool)
    for i in range(n):
        length = int(torch.randint(6, 15, ()))
        start = int(torch.randint(0, seq - 2 * length + 1, ()))
        tokens[i, start + length:start + 2 * length] = tokens[i, start:start + length]
        repeated[i, start + length + 1:start + 2 * length] = True  # predictable from the copy
    return tokens, repeated


@torch.no_grad()
def activations(tokens):
    """Block 1's output: blocks.1.hook_resid_post (hidden_states[-1] is after ln_f)."""
    out = []
    handle = model.transformer.h[1].register_forward_hook(
        lambda module, args, output: out.append(output[0] if isinstance(output, tuple) else output))
    model(tokens)
    handle.remove()
    return out[0]


tokens, repeated = batch(2048)
acts = activations(tokens).reshape(-1, 64)
mask = repeated.reshape(-1)
cfg = StandardSAEConfig(d_in=64, d_sae=128, metadata=SAEMetadata(
    hook_name="blocks.1.hook_resid_post", model_name="induction-2l"))
sae = StandardSAE(cfg)
with torch.no_grad():
    sae.b_dec.copy_(acts.mean(0))
opt = torch.optim.Adam(sae.parameters(), lr=2e-3)
scale = acts.var(0).sum()
for step in range(3000):
    x = acts[torch.randint(0, acts.shape[0], (512,))]
    f = sae.encode(x)
    loss = ((sae.decode(f) - x) ** 2).sum(-1).mean() / scale + 2e-2 * f.abs().sum(-1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        sae.W_dec /= sae.W_dec.norm(dim=-1, keepdim=True)
with torch.no_grad():
    f = sae.encode(acts)
    recon = ((sae.decode(f) - acts) ** 2).sum(-1).mean() / scale
    l0 = (f > 0).float().sum(-1).mean()
    on_repeat = (f[mask] > 0).float().mean(0)
    elsewhere = (f[~mask] > 0).float().mean(0)
print(f"fraction of variance unexplained {recon:.3f}, L0 {l0:.1f}, "
      f"dead {(f.max(0).values == 0).sum().item()}")
order = torch.argsort(on_repeat - elsewhere, descending=True)
for i in order[:5].tolist():
    print(f"  feature {i}: fires on {on_repeat[i]:.0%} of repeated-copy positions, "
          f"{elsewhere[i]:.0%} of the others")
sae.save_model(out)
