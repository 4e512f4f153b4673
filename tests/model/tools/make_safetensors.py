#!/usr/bin/env python3
"""Writes the loader's test files into OUT_DIR, with the safetensors format written by hand
(8-byte little-endian header length, JSON header, raw bytes): no safetensors package, so the
reader is checked against the format, not against one implementation of it.

  valid/dtypes.safetensors    one tensor per dtype + plain-F32 / raw-bits references
  valid/unaligned.safetensors header length chosen so the data section starts at an odd byte
  valid/edge.safetensors      0-sized tensors, a scalar, __metadata__, a gap between spans
  valid/slice.safetensors     a page-spanning F32 matrix for the slice-reads-only-the-slice test
  single/                     model.safetensors of a small random model
  sharded/                    the same tensors in 2 shards + model.safetensors.index.json
  bad/<case>.safetensors      one malformed file per validation rule
  ckpt/<case>/                one malformed checkpoint folder per rule

Usage: third_party/venv/bin/python make_safetensors.py OUT_DIR
"""
import json
import os
import struct
import sys

import torch

DTYPE_NAMES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: go through the raw bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_raw(path, header_bytes, data=b""):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)) + header_bytes + data)


def write_file(path, tensors, metadata=None, align=8, gap=0, odd_start=False):
    """tensors: list of (name, torch.Tensor). Header padded with spaces so the data section
    starts at a multiple of `align`, or at an odd offset (odd_start: every element of a
    2/4/8-byte dtype is then misaligned in memory); `gap` zero bytes between spans."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors:
        raw = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw + b"\0" * gap
    text = json.dumps(header).encode()
    if odd_start:
        text += b" " * ((1 - (8 + len(text))) % 8)
    elif align > 1:
        text += b" " * ((-(8 + len(text))) % align)
    write_raw(path, text, data)
    return 8 + len(text)


def write_header(path, header, data_len=0):
    """A file whose header is exactly `header` (a dict or raw text) followed by data_len bytes."""
    text = header.encode() if isinstance(header, str) else json.dumps(header).encode()
    write_raw(path, text, bytes(range(256)) * (data_len // 256) + bytes(data_len % 256))


def valid_files(out):
    g = torch.Generator().manual_seed(1234)
    base = torch.randn(3, 5, generator=g) * 3
    # Values that must survive exactly: specials, subnormals, the extremes of each format.
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, float("inf"), float("-inf"), 65504.0, 6.1e-5,
                            5.96e-8, 1e-40, 3.0e38, float("nan")])
    tensors = []
    for label, dtype in [("f64", torch.float64), ("f32", torch.float32), ("f16", torch.float16),
                         ("bf16", torch.bfloat16)]:
        t = base.to(dtype)
        s = special.to(dtype)
        tensors += [(label, t), (label + "_special", s),
                    # the exact values as F32 (upcasting F16/BF16 to F32 is exact)
                    (label + "_as_f32", t.to(torch.float32)),
                    (label + "_special_as_f32", s.to(torch.float32))]
    tensors += [("f16_bits", base.to(torch.float16).view(torch.int16)),
                ("bf16_bits", base.to(torch.bfloat16).view(torch.int16)),
                # what torch's own rounding makes of F32 -> BF16 / F16 (round to nearest even)
                ("f32_to_bf16", base.to(torch.bfloat16)), ("f32_to_f16", base.to(torch.float16))]
    ints = torch.tensor([[0, 1, -1, 127], [-128, 42, 7, -7]])
    tensors += [("i64", torch.tensor([0, 1, -1, 2**62, -2**63], dtype=torch.int64)),
                ("i32", ints.to(torch.int32) * 1000), ("i16", ints.to(torch.int16) * 100),
                ("i8", ints.to(torch.int8)), ("u8", torch.tensor([0, 1, 128, 255], dtype=torch.uint8)),
                ("bool", torch.tensor([True, False, True]))]
    write_file(f"{out}/valid/dtypes.safetensors", tensors)

    # Old writers did not pad the header: the data section may start at any byte.
    write_file(f"{out}/valid/unaligned.safetensors",
               [("f32", base), ("bf16", base.to(torch.bfloat16)), ("f16", base.to(torch.float16)),
                ("i64", torch.arange(6).reshape(2, 3))], odd_start=True)

    write_file(f"{out}/valid/edge.safetensors",
               [("empty", torch.zeros(0, 4)), ("empty2", torch.zeros(3, 0, dtype=torch.bfloat16)),
                ("scalar", torch.tensor(2.5)), ("after_gap", torch.tensor([1.0, 2.0])),
                ("no_dims_empty", torch.zeros(0, dtype=torch.int8))],
               metadata={"format": "pt", "note": "edge cases"}, gap=16)

    # 8 rows of 4096 F32 = 16 KiB per row: whole pages, so the test can protect the others.
    write_file(f"{out}/valid/slice.safetensors",
               [("m", torch.arange(8 * 4096, dtype=torch.float32).reshape(8, 4096))], align=4096)

    # A small "model": single file, and the same tensors in two shards.
    model = [("wte.weight", torch.randn(50, 16, generator=g)),
             ("h.0.attn.c_attn.weight", torch.randn(16, 48, generator=g).to(torch.bfloat16)),
             ("h.0.attn.c_attn.bias", torch.randn(48, generator=g).to(torch.float16)),
             ("h.1.mlp.c_fc.weight", torch.randn(16, 64, generator=g)),
             ("ln_f.weight", torch.ones(16))]
    write_file(f"{out}/single/model.safetensors", model, metadata={"format": "pt"})
    shards = [model[:2], model[2:]]
    weight_map = {}
    for k, part in enumerate(shards, 1):
        name = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        write_file(f"{out}/sharded/{name}", part, metadata={"format": "pt"})
        weight_map.update({n: name for n, _ in part})
    with open(f"{out}/sharded/model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": sum(t.numel() * t.element_size() for _, t in model)},
                   "weight_map": weight_map}, f, indent=2)
    return model, shards


def bad_files(out):
    b = f"{out}/bad"
    os.makedirs(b, exist_ok=True)
    open(f"{b}/empty.safetensors", "wb").close()
    open(f"{b}/too_short.safetensors", "wb").write(b"\x05\0\0\0\0")
    write_raw(f"{b}/header_over_limit.safetensors", b"{}")
    with open(f"{b}/header_over_limit.safetensors", "r+b") as f:
        f.write(struct.pack("<Q", 200_000_000))
    with open(f"{b}/header_past_eof.safetensors", "wb") as f:
        f.write(struct.pack("<Q", 1000) + b"{}" + b" " * 18)
    write_header(f"{b}/bad_json.safetensors", '{"w": {"dtype": "F32",')
    write_header(f"{b}/trailing_garbage.safetensors", '{} x')
    write_header(f"{b}/not_object.safetensors", "[1, 2]")
    write_header(f"{b}/metadata_not_object.safetensors", {"__metadata__": 3})
    write_header(f"{b}/metadata_value.safetensors", {"__metadata__": {"format": 1}})
    write_header(f"{b}/entry_not_object.safetensors", {"w": 5})
    ok = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    for key in ok:
        write_header(f"{b}/missing_{key}.safetensors", {"w": {k: v for k, v in ok.items() if k != key}}, 8)
    write_header(f"{b}/dtype_not_string.safetensors", {"w": dict(ok, dtype=4)}, 8)
    write_header(f"{b}/unknown_dtype.safetensors", {"w": dict(ok, dtype="F8_E4M3")}, 8)
    write_header(f"{b}/shape_not_array.safetensors", {"w": dict(ok, shape=2)}, 8)
    write_header(f"{b}/shape_negative.safetensors", {"w": dict(ok, shape=[-2])}, 8)
    write_header(f"{b}/shape_float.safetensors", {"w": dict(ok, shape=[2.0])}, 8)
    write_header(f"{b}/offsets_one.safetensors", {"w": dict(ok, data_offsets=[0])}, 8)
    write_header(f"{b}/offsets_negative.safetensors", {"w": dict(ok, data_offsets=[-8, 0])}, 8)
    write_header(f"{b}/offsets_reversed.safetensors", {"w": dict(ok, data_offsets=[8, 0])}, 8)
    write_header(f"{b}/size_mismatch.safetensors",
                 {"h.0.attn.c_attn.weight": {"dtype": "F32", "shape": [64, 192], "data_offsets": [0, 100]}}, 100)
    write_header(f"{b}/shape_overflow.safetensors",
                 {"w": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 0]}})
    write_header(f"{b}/past_end.safetensors", {"w": dict(ok, data_offsets=[4, 12])}, 8)
    write_header(f"{b}/overlap.safetensors",
                 {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                  "b": {"dtype": "F16", "shape": [4], "data_offsets": [12, 20]}}, 20)
    write_header(f"{b}/duplicate.safetensors",
                 '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
                 ' "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', 8)
    write_header(f"{b}/empty_name.safetensors", {"": ok}, 8)


def bad_checkpoints(out, model, shards):
    c = f"{out}/ckpt"
    os.makedirs(f"{c}/empty", exist_ok=True)
    os.makedirs(f"{c}/torch_bin", exist_ok=True)
    open(f"{c}/torch_bin/pytorch_model.bin", "wb").write(b"PK")
    write_file(f"{c}/stray_shard/model-00001-of-00002.safetensors", shards[0])

    def index_case(name, index, files=(0, 1)):
        os.makedirs(f"{c}/{name}", exist_ok=True)
        for k in files:
            write_file(f"{c}/{name}/model-{k + 1:05d}-of-00002.safetensors", shards[k])
        with open(f"{c}/{name}/model.safetensors.index.json", "w") as f:
            f.write(index if isinstance(index, str) else json.dumps(index))

    good = {n: f"model-{k + 1:05d}-of-00002.safetensors" for k, part in enumerate(shards) for n, _ in part}
    index_case("index_bad_json", '{"weight_map": {')
    index_case("index_no_weight_map", {"metadata": {}})
    index_case("index_map_not_object", {"weight_map": []})
    index_case("index_map_empty", {"weight_map": {}})
    index_case("index_value_not_string", {"weight_map": dict(good, **{"ln_f.weight": 2})})
    index_case("index_missing_file", {"weight_map": good}, files=(0,))
    index_case("index_escapes", {"weight_map": dict(good, **{"ln_f.weight": "../model-00002-of-00002.safetensors"})})
    # ln_f.weight is in shard 2; the index claims shard 1
    index_case("index_wrong_shard", {"weight_map": dict(good, **{"ln_f.weight": "model-00001-of-00002.safetensors"})})
    # a shard carries a tensor the index does not list
    index_case("index_unlisted", {"weight_map": {k: v for k, v in good.items() if k != "ln_f.weight"}})
    # wte.weight in both shards (the index names shard 1)
    os.makedirs(f"{c}/index_twice", exist_ok=True)
    write_file(f"{c}/index_twice/model-00001-of-00002.safetensors", shards[0])
    write_file(f"{c}/index_twice/model-00002-of-00002.safetensors", shards[1] + [shards[0][0]])
    with open(f"{c}/index_twice/model.safetensors.index.json", "w") as f:
        json.dump({"weight_map": good}, f)
    # a shard that is itself malformed
    index_case("index_bad_shard", {"weight_map": good})
    with open(f"{c}/index_bad_shard/model-00002-of-00002.safetensors", "r+b") as f:
        f.write(struct.pack("<Q", 1 << 40))


def main():
    out = sys.argv[1]
    model, shards = valid_files(out)
    bad_files(out)
    bad_checkpoints(out, model, shards)
    open(f"{out}/DONE", "w").write("ok\n")


if __name__ == "__main__":
    main()
