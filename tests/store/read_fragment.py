"""Reads a csweep fragment with h5py (independent of the C++ reader) and checks it:
named axes as attributes, index rows with the magic, values equal to the test's formula."""
import sys

import h5py
import numpy as np

MAGIC = 0x43535745455031

with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["spec_hash"] == "hash-a", f.attrs["spec_hash"]
    assert int(f.attrs["rank"][0]) == 3
    n = 0
    expected_axes = {"resid": ["layer", "pos"], "heads_z": ["head"]}
    for ai, name in enumerate(["resid", "heads_z"]):
        g = f[name]
        axes = [a.decode() if isinstance(a, bytes) else a for a in g.attrs["axis_names"]]
        assert axes == expected_axes[name], axes
        rows = g["shards"][...]
        values = g["values"][...]
        assert rows.shape[1] == 7
        for shard_id, prompt, begin, end, offset, checksum, magic in rows:
            assert magic == MAGIC
            got = values[offset:offset + end - begin]
            want = np.array([100 * ai + 10 * prompt + c + 0.25 for c in range(begin, end)], dtype=np.float32)
            assert np.array_equal(got, want), (name, shard_id, got, want)
            n += 1
    print(f"OK {n} shards")
