"""Checks examples/circuit_faithfulness.yaml's reduced store (argv[1]) and prints what it finds:
the faithfulness curve of the hand-ranked induction circuit of the bundled model, with its 95 %
bootstrap intervals; f is 0 for the empty circuit and 1 for the full model exactly; the circuit of
at most 3 heads (0.0, 1.2, 1.3) has f >= 0.8 (the issue's check) with its interval around it; the
chosen circuit (the smallest with f >= 0.8) is drawn in report.html. Exit 0 = all hold."""
import sys

from faithfulness_curve import finish, read_curve

import numpy as np

store = sys.argv[1]
g, sizes, fa, ci = read_curve(store, "induction_circuit", "heads")
failures = []
if list(sizes) != list(range(9)):
    failures.append(f"sizes {list(sizes)}, expected 0..8")
if fa[0] != 0.0 or fa[-1] != 1.0:
    failures.append(f"f(empty) = {fa[0]}, f(full) = {fa[-1]}: expected exactly 0 and 1")
three = int(np.where(sizes == 3)[0][0])
if not fa[three] >= 0.8:
    failures.append(f"the 3-head circuit has f = {fa[three]:.3f} (want >= 0.8)")
if not ci[three][0] <= fa[three] <= ci[three][1]:
    failures.append(f"the 3-head interval {ci[three]} does not hold f = {fa[three]:.3f}")
c = g["circuit"]
nodes = [n.decode() if isinstance(n, bytes) else n for n in c["nodes"][()]]
print(f"  chosen circuit: {nodes} (size {c.attrs['size']}, f {c.attrs['faithfulness']:.3f})")
if not 1 <= c.attrs["size"] <= 3 or nodes != ["a0.h0", "a1.h2", "a1.h3"][: c.attrs["size"]]:
    failures.append(f"chosen circuit {nodes}: expected the first <= 3 ranked heads")
finish(store, failures)
