# Reads sweep.h5 the way a user would (h5py only, no csweep code) and prints what it found as
# JSON for report_reduce_test to check. Usage: read_sweep_h5.py SWEEP_H5
import json
import math
import sys

import h5py


def plain(x):
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, list):
        return [plain(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


out = {}
with h5py.File(sys.argv[1], "r") as f:
    out["attrs"] = {k: plain(f.attrs[k]) for k in ("format", "job_name", "model", "spec_hash", "analyses")}
    out["job_spec"] = f["job_spec"].asstr()[()]
    out["provenance"] = json.loads(f["provenance"].asstr()[()])
    out["prompt_ids"] = plain(f["prompts/id"].asstr()[:])
    out["prompt_tokens"] = plain(f["prompts/tokens"].asstr()[:])
    out["prompts"] = {k: {"values": plain(ds.asstr()[()] if ds.dtype.kind == "O" else ds[()]),
                          "attrs": {a: plain(v) for a, v in ds.attrs.items()}}
                      for k, ds in f["prompts"].items()}
    out["analyses"] = {}
    for name, g in f["analyses"].items():
        a = {"attrs": {k: plain(v) for k, v in g.attrs.items()}, "datasets": {}}
        for key, ds in g.items():
            if not isinstance(ds, h5py.Dataset) or ds.attrs.get("CLASS") == b"DIMENSION_SCALE":
                continue
            a["datasets"][key] = {
                "shape": list(ds.shape),
                "dims": [d.label for d in ds.dims],
                "scales": [plain(d[0][()]) if len(d) else None for d in ds.dims],
                "axes_attr": plain(ds.attrs["axes"]),
                "attrs": {k: plain(v) for k, v in ds.attrs.items() if k not in ("DIMENSION_LIST", "REFERENCE_LIST")},
                "values": plain(ds.asstr()[()] if ds.dtype.kind == "O" else ds[()]),
            }
        a["top_k"] = {k: plain(v.asstr()[()] if v.dtype.kind == "O" else v[()]) for k, v in g["top_k"].items()}
        out["analyses"][name] = a
print(json.dumps(out))
