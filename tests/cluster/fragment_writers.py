#!/usr/bin/python3
"""Who wrote what, read independently of csweep with h5py: for every fragment of STORE,
its root attributes (rank, slice, Slurm ids) and the ids of the complete shards it holds
(index rows with the row magic). Prints one JSON list on stdout."""
import json
import os
import sys

import h5py

MAGIC = 0x43535745455031  # store/fragment_writer.h kShardRowMagic


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def main(store):
    out = []
    folder = os.path.join(store, "fragments")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".h5"):
            continue
        with h5py.File(os.path.join(folder, name), "r", locking=False) as f:
            entry = {"file": name, "rank": int(f.attrs["rank"]), "shards": []}
            for key in ("slice", "slurm_job_id", "slurm_array_job_id", "slurm_array_task_id"):
                entry[key] = text(f.attrs[key]) if key in f.attrs else ""
            for group in f.values():
                if isinstance(group, h5py.Group) and "shards" in group:
                    rows = group["shards"][()]
                    entry["shards"] += [int(r[0]) for r in rows if int(r[6]) == MAGIC]
            entry["shards"].sort()
            out.append(entry)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
