#!/usr/bin/env python3
"""Writes tests/model/fixtures/gguf_quant_blocks.json: a few blocks of every GGML type csweep
dequantises, with the floats the `gguf` Python package (PyPI, llama.cpp's gguf-py) gets from
them, bit for bit (as float32 hex), plus gguf-py's block geometry for every type it knows. The
C++ test (core_gguf_quants_test.cpp) reads the fixture, so CI needs no Python.

    third_party/gguf-venv/bin/python tests/model/gguf_tools/make_quant_fixture.py

Blocks are random bytes (every bit pattern of the quants and packed scales is exercised) with
the f16 scale fields replaced by random finite values, so no block dequantises to inf/NaN.
"""
import json
import pathlib

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

OUT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "gguf_quant_blocks.json"
N_BLOCKS = 3
# Byte offsets of each type's f16 scale fields inside one block (ggml-common.h).
SCALE_OFFSETS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}
PLAIN = {"F32": np.float32, "F16": np.float16, "BF16": None}


def random_f16(rng, n):
    mag = np.exp(rng.uniform(np.log(1e-4), np.log(2.0), n))
    return (mag * rng.choice([-1.0, 1.0], n)).astype(np.float16)


def main():
    rng = np.random.default_rng(20261128)
    types = []
    for name in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"]:
        qtype = T[name]
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        if name in PLAIN:
            n = 64
            values = rng.standard_normal(n).astype(np.float32) * np.float32(3.0)
            values[:4] = [0.0, -0.0, 6.0e-8, 65504.0]  # zero, signed zero, f16 subnormal and max
            if name == "F32":
                raw = values.tobytes()
            elif name == "F16":
                raw = values.astype(np.float16).tobytes()
            else:  # bf16: the top halves of float32 values
                raw = (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()
            data = np.frombuffer(raw, dtype=np.uint8)
        else:
            data = rng.integers(0, 256, size=N_BLOCKS * block_bytes, dtype=np.uint8)
            blocks = data.reshape(N_BLOCKS, block_bytes)
            for off in SCALE_OFFSETS[name]:
                blocks[:, off:off + 2] = random_f16(rng, N_BLOCKS).view(np.uint8).reshape(N_BLOCKS, 2)
            data = blocks.reshape(-1)
        expected = np.asarray(dequantize(data, qtype), dtype=np.float32).reshape(-1)
        types.append({
            "name": name, "id": int(qtype), "block_elems": int(block_elems), "block_bytes": int(block_bytes),
            "data_hex": bytes(data).hex(), "expected_f32_hex": expected.astype("<f4").tobytes().hex(),
        })
    sizes = {t.name: list(map(int, gguf.GGML_QUANT_SIZES[t])) for t in T if t in gguf.GGML_QUANT_SIZES}
    ids = {t.name: int(t) for t in T}
    doc = {
        "generator": "tests/model/gguf_tools/make_quant_fixture.py",
        "gguf_py_version": getattr(gguf, "__version__", None) or __import__("importlib.metadata").metadata.version("gguf"),
        "types": types, "quant_sizes": sizes, "type_ids": ids,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
