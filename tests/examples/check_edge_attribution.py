"""Checks examples/edge_attribution.yaml's reduced store (argv[1]) and prints what it finds: both
analyses (EAP and EAP-IG) score the 110 edges of the bundled 2-layer model, labelled once each;
the previous-token head 0.0 -> induction head 1.2's key input (K-composition) is among the top 3
edges by |mean| and lowers the logit difference; edges out of the heads pruned to zero (0.1-0.3)
score 0 (their outputs are zero on every prompt); the figure is the sender x receiver matrix
(11 x 27 cells, not a strip of 110) and report.html lists the edge. Exit 0 = all hold."""
import struct
import sys

import h5py
import numpy as np

a = h5py.File(sys.argv[1] + "/sweep.h5", "r")["analyses"]
failures = []
for name in ("eap", "eap_ig"):
    g = a[name]
    labels = [x.decode() if isinstance(x, bytes) else str(x) for x in g["edge"][()]]
    mean = np.asarray(g["mean"][()])
    if len(labels) != 110 or len(set(labels)) != 110:
        failures.append(f"{name}: {len(labels)} edges, {len(set(labels))} distinct (want 110)")
    order = np.argsort(-np.abs(mean))
    top = [labels[i] for i in order[:5]]
    print(f"{name}: top 5 edges by |mean|: " +
          ", ".join(f"{labels[i]} {mean[i]:.3f}" for i in order[:5]))
    k = labels.index("a0.h0->a1.h2.k")
    if "a0.h0->a1.h2.k" not in top[:3] or not mean[k] < 0:
        failures.append(f"{name}: a0.h0->a1.h2.k = {mean[k]:.3f} is not a top-3 negative edge")
    pruned = [i for i, l in enumerate(labels) if l.split("->")[0] in ("a0.h1", "a0.h2", "a0.h3")]
    worst = float(np.max(np.abs(mean[pruned])))
    if worst > 1e-4:
        failures.append(f"{name}: an edge out of a pruned head scores {worst:.2e}")
for name in ("eap", "eap_ig"):
    with open(f"{sys.argv[1]}/heatmaps/{name}_mean.png", "rb") as png:
        width, height = struct.unpack(">II", png.read(24)[16:24])
    if not (width < 1600 and height > 300):
        failures.append(f"{name}_mean.png is {width} x {height}: not the sender x receiver matrix")
if "a0.h0-&gt;a1.h2.k" not in open(sys.argv[1] + "/report.html").read():
    failures.append("report.html does not list the edge a0.h0->a1.h2.k")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
