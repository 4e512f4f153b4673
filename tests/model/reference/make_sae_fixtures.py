"""Small random SAEs saved by SAELens itself, and SAELens's encode/decode of fixed inputs.

usage: make_sae_fixtures.sh (makes its venv with sae-lens 6.x from PyPI, then runs this) or
       PYTHON make_sae_fixtures.py FIXTURE_DIR EXAMPLE_SAE_DIR

For every variant FIXTURE_DIR/NAME/ holds cfg.json and sae_weights.safetensors written by
SAE.save_model, and reference.safetensors with x (the input), acts (sae.encode(x)) and recon
(sae.decode(acts)), all in the SAE's dtype; tests/model/torch_sae_test.cpp checks csweep's
encode/decode equal them. EXAMPLE_SAE_DIR gets a random standard SAE at blocks.1.hook_resid_pre
of the bundled model (d_in 64), and FIXTURE_DIR/gpt2_tiny_hook_z a jumprelu, layer_norm SAE at
blocks.1.attn.hook_z of the GPT-2 fixture, for the SAE feature tests (tests/analyses/sae_feature_test.cpp and
the tensor-parallel cases); train_example_sae.py trains the example's.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

import sae_lens
from sae_lens import (JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig, TopKSAE,
                      TopKSAEConfig)
from sae_lens.saes.sae import SAEMetadata

D_IN, D_SAE = 16, 40

# name: (SAE class, config class, config keywords, hook_name)
VARIANTS = {
    "standard": (StandardSAE, StandardSAEConfig, {}, "blocks.0.hook_resid_pre"),
    "standard_layer_norm": (StandardSAE, StandardSAEConfig,
                            {"apply_b_dec_to_input": False, "normalize_activations": "layer_norm"},
                            "blocks.1.hook_resid_post"),
    "topk": (TopKSAE, TopKSAEConfig, {"k": 5}, "blocks.0.hook_mlp_out"),
    "topk_rescaled": (TopKSAE, TopKSAEConfig,
                      {"k": 7, "rescale_acts_by_decoder_norm": True,
                       "normalize_activations": "constant_norm_rescale"},
                      "blocks.1.hook_attn_out"),
    "jumprelu": (JumpReLUSAE, JumpReLUSAEConfig, {}, "blocks.2.hook_resid_mid"),
    "jumprelu_bfloat16": (JumpReLUSAE, JumpReLUSAEConfig, {"dtype": "bfloat16"},
                          "blocks.0.hook_resid_pre"),
    "standard_hook_z": (StandardSAE, StandardSAEConfig, {"reshape_activations": "hook_z"},
                        "blocks.0.attn.hook_z"),
}


def randomise(sae, gen):
    """Every parameter random (SAELens starts biases and thresholds at 0), so each term counts."""
    with torch.no_grad():
        for name, p in sae.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name == "threshold":
                r = r.abs() * 0.5
            elif name.startswith("b_"):
                r = r * 0.3
            else:
                r = r / p.shape[0] ** 0.5
            p.copy_(r.to(p.dtype))


def make(variant, out, d_in=D_IN, d_sae=D_SAE, seed=0):
    cls, cfg_cls, kw, hook = variant
    cfg = cfg_cls(d_in=d_in, d_sae=d_sae, metadata=SAEMetadata(hook_name=hook), **kw)
    sae = cls(cfg)
    gen = torch.Generator().manual_seed(seed)
    randomise(sae, gen)
    sae.save_model(out)
    return sae, gen


def main():
    fixtures, example = Path(sys.argv[1]), Path(sys.argv[2])
    print("sae-lens", sae_lens.__version__, "torch", torch.__version__)
    for i, name in enumerate(VARIANTS):
        sae, gen = make(VARIANTS[name], fixtures / name, seed=i)
        shape = (2, 5, 4, 4) if sae.cfg.reshape_activations == "hook_z" else (2, 5, D_IN)
        x = (torch.randn(shape, generator=gen) * 2 + 0.5).to(sae.dtype)
        with torch.no_grad():
            acts = sae.encode(x)
            recon = sae.decode(acts)
        save_file({"x": x, "acts": acts.contiguous(), "recon": recon.contiguous()},
                  fixtures / name / "reference.safetensors")
        print(f"{name}: active features per position {(acts > 0).sum(-1).float().mean():.1f}")
    # For the sweep tests on the GPT-2 fixture (4 heads of 16): per-head z, layer_norm, jumprelu.
    make((JumpReLUSAE, JumpReLUSAEConfig,
          {"normalize_activations": "layer_norm", "reshape_activations": "hook_z"},
          "blocks.1.attn.hook_z"), fixtures / "gpt2_tiny_hook_z", d_in=64, d_sae=96, seed=200)
    make((StandardSAE, StandardSAEConfig, {}, "blocks.1.hook_resid_pre"), example,
                  d_in=64, d_sae=128, seed=100)
    print("example SAE:", example)


if __name__ == "__main__":
    main()
