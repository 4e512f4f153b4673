"""Checks examples/probe.yaml's reduced store (argv[1]) and prints the accuracy per layer:
  - the grid is [site, layer, token, quantity] with its labels, and every cell is done once (the
    whole prompt set's result sits in the first prompt's row; the other rows are not computed);
  - at the first token (which cannot see the rest of the prompt) the probe is at chance;
  - at the last token after layer 1 (the induction heads) it reads "repeated" perfectly, and
    better than from the embedding (hook_resid_pre of layer 0);
  - the shuffled-label control stays near chance everywhere.
Exit 0 = all hold."""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1] + "/sweep.h5", "r")
g = f["analyses"]["repeated"]
text = lambda xs: [x.decode() if isinstance(x, bytes) else str(x) for x in xs]
assert text(g.attrs["axes"]) == ["site", "layer", "token", "quantity"], g.attrs["axes"]
sites, tokens = text(g["site"][()]), text(g["token"][()])
assert sites == ["hook_resid_pre", "hook_resid_post"], sites
assert tokens == ["0", "8", "last"], tokens
assert text(g["quantity"][()]) == ["score", "control"]
assert g.attrs["cells_done"] == g.attrs["cells_total"] == 24, dict(g.attrs)
done = np.asarray(g["done"][()])
assert done[0].all() and not done[1:].any(), "only the first prompt's row holds the set's result"
m = np.asarray(g["mean"][()])  # [site, layer, token, quantity]
for s, site in enumerate(sites):
    for layer in range(m.shape[1]):
        print(f"{site:16s} layer {layer}: accuracy at tokens 0 / 8 / last = "
              + " / ".join(f"{v:.3f}" for v in m[s, layer, :, 0])
              + "; control " + " / ".join(f"{v:.3f}" for v in m[s, layer, :, 1]))
ok = True
ok &= bool(np.all(m[:, :, 0, 0] <= 0.7))        # the first token: chance
ok &= bool(m[1, 1, 2, 0] >= 0.95)               # resid_post of layer 1, last token
ok &= bool(m[1, 1, 2, 0] > m[0, 0, 2, 0] + 0.3)  # ... far above the embedding
ok &= bool(np.all(m[:, :, :, 1] <= 0.75))       # the control
print("ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
