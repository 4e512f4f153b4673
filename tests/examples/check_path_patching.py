"""Checks examples/path_patching.yaml's reduced store (argv[1]) and prints what it finds: the
previous-token head 0.0 reaches the induction head 1.2 through its key input (K-composition):
that path alone keeps < 30 % of the clean logit difference (fraction recovered < 0.3), while its
q and v paths keep > 90 %; the pruned heads 0.1-0.3 change nothing on any path (fraction 1 within
1e-4); to the logits, 1.2's direct path matters and 0.0's does not. Exit 0 = all hold."""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1] + "/sweep.h5", "r")
a = f["analyses"]
failures = []


def fraction(name):
    g = a[name]
    axes = [x.decode() if isinstance(x, bytes) else str(x) for x in g.attrs["axes"]]
    if axes != ["layer", "head"]:
        failures.append(f"{name}: axes {axes}, expected [layer, head]")
    return np.asarray(g["fraction_recovered"][()])


k, q, v, logits = (fraction(n) for n in ("to_induction_k", "to_induction_q", "to_induction_v",
                                         "to_logits"))
if not k[0, 0] < 0.3:
    failures.append(f"0.0 -> 1.2.k keeps {k[0, 0]:.3f} of the logit difference (want < 0.3)")
for name, x in (("q", q), ("v", v)):
    if not x[0, 0] > 0.9:
        failures.append(f"0.0 -> 1.2.{name} keeps {x[0, 0]:.3f} (want > 0.9)")
for name, x in (("k", k), ("q", q), ("v", v), ("logits", logits[:1])):
    if np.abs(x[0, 1:] - 1).max() > 1e-4:
        failures.append(f"pruned heads 0.1-0.3 -> {name}: {x[0, 1:]} (want 1)")
if not (logits[1, 2] < 0.5 and abs(logits[0, 0] - 1) < 1e-3):
    failures.append(f"to logits: 1.2 keeps {logits[1, 2]:.3f} (want < 0.5), 0.0 {logits[0, 0]:.3f}")
print(f"fraction recovered with one path patched: 0.0->1.2.k {k[0, 0]:.3f}, 0.0->1.2.q "
      f"{q[0, 0]:.3f}, 0.0->1.2.v {v[0, 0]:.3f}; to the logits 1.2 {logits[1, 2]:.3f}, 1.3 "
      f"{logits[1, 3]:.3f}, 0.0 {logits[0, 0]:.3f}")
for msg in failures:
    print("FAIL:", msg)
sys.exit(1 if failures else 0)
