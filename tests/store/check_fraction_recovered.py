# Checks a reduced store of examples/activation_patching.yaml against the fixture's
# TransformerLens reference, reading sweep.h5 with h5py only: every analysis has baselines
# equal to raw.logit_diff_clean / logit_diff_corrupted and a fraction recovered equal to
# (reference patched - corrupted) / (clean - corrupted), within 1e-4.
# Usage: check_fraction_recovered.py STORE REFERENCE_JSON
import json
import os
import sys

import h5py
import numpy as np

TOL = 1e-4
# analysis in examples/activation_patching.yaml -> table in reference.json raw.patching
TABLES = {"resid_pre": "resid_pre", "head_z_by_pos": "attn_head_out_by_pos", "head_z_all_pos": "attn_head_out_all_pos"}

store, reference = sys.argv[1], sys.argv[2]
raw = json.load(open(reference))["raw"]
clean, corrupted = raw["logit_diff_clean"], raw["logit_diff_corrupted"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


with h5py.File(os.path.join(store, "sweep.h5"), "r") as f:
    for name, table in TABLES.items():
        g = f["analyses/" + name]
        check(int(g.attrs["has_fraction_recovered"]) == 1, name + ": has_fraction_recovered is not 1")
        if "fraction_recovered" not in g:
            failures.append(name + ": no fraction_recovered dataset")
            continue
        cl, co = g["clean_baseline"][()], g["corrupted_baseline"][()]
        check(cl.shape == (1,) and abs(cl[0] - clean) <= TOL, f"{name}: clean_baseline {cl} != {clean}")
        check(co.shape == (1,) and abs(co[0] - corrupted) <= TOL, f"{name}: corrupted_baseline {co} != {corrupted}")
        expected = (np.array(raw["patching"][table]) - corrupted) / (clean - corrupted)
        got = np.squeeze(g["fraction_recovered"][()])  # a single-site axis has size 1
        check(got.shape == expected.shape, f"{name}: fraction_recovered shape {got.shape} != {expected.shape}")
        if got.shape == expected.shape:
            err = float(np.max(np.abs(got - expected)))
            check(err <= TOL, f"{name}: fraction_recovered max error {err}")
            # the same from our own per-prompt values and baselines
            mine = (np.squeeze(g["mean"][()]) - co[0]) / (cl[0] - co[0])
            check(float(np.max(np.abs(got - mine))) <= 1e-5, f"{name}: fraction_recovered != (mean - co)/(cl - co)")
        check(g["top_k"].attrs["ranked_by"] == "|mean - corrupted baseline|", name + ": top_k not ranked by effect")
        png = os.path.join(store, "heatmaps", name + "_fraction_recovered.png")
        check(os.path.getsize(png) > 0 if os.path.exists(png) else False, png + " missing")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
