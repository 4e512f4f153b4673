"""Checks examples/edge_circuit.yaml's reduced store (argv[1]) and prints what it finds: the
faithfulness curve of the circuits of EAP-IG's top edges on the bundled induction model, with its
95 % bootstrap intervals; f is exactly 0 for the empty circuit and 1 for the full model; the chosen
circuit (the smallest with f >= 0.8) is a graph of edges whose endpoints include the previous-token
head 0.0 and the induction head 1.2, joined by the K-composition edge a0.h0->a1.h2.k, and
a1.h2->logits; report.html draws it. Exit 0 = all hold."""
import sys

from faithfulness_curve import finish, read_curve

store = sys.argv[1]
g, sizes, fa, ci = read_curve(store, "edge_circuit", "edges")
failures = []
if list(sizes) != [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 110]:
    failures.append(f"sizes {list(sizes)}, expected 0, the sizes asked for, and all 110 edges")
if fa[0] != 0.0 or fa[-1] != 1.0:
    failures.append(f"f(empty) = {fa[0]}, f(full) = {fa[-1]}: expected exactly 0 and 1")
c = g["circuit"]
text = lambda d: [x.decode() if isinstance(x, bytes) else x for x in d[()]]
nodes, edges = text(c["nodes"]), text(c["edge_labels"])
print(f"  chosen circuit: {c.attrs['size']} edges, f {c.attrs['faithfulness']:.3f}: {edges}")
if not 1 <= c.attrs["size"] <= 24 or not c.attrs["faithfulness"] >= 0.8:
    failures.append(f"chosen circuit of size {c.attrs['size']}: expected one of the top 24 edges")
for e in ["a1.h2->logits", "a0.h0->a1.h2.k"]:
    if e not in edges:
        failures.append(f"the chosen circuit lacks {e}")
for n in ["a0.h0", "a1.h2", "logits"]:
    if n not in nodes:
        failures.append(f"the chosen circuit's nodes {nodes} lack {n}")
if len(edges) != c.attrs["size"] or c["edges"].shape != (len(edges), 2):
    failures.append(f"{len(edges)} edge labels, edges {c['edges'].shape} for size {c.attrs['size']}")
finish(store, failures)
