"""Checks examples/sae_features.yaml's reduced store (argv[1]) and prints what it finds:
  - both grids are [feature, pos], the feature axis holding the job's feature ids;
  - the SAE's error term is kept: a cell whose feature does not fire (ablation) or has the same
    value in both runs (patching) is the unedited run, so many cells equal their baseline
    (|diff| <= 1e-5) while the others move;
  - the features whose ablation moves the logit difference most;
  - attribution (AtP in feature space) estimates the patching cells: max difference < 0.1.
Exit 0 = all hold."""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1] + "/sweep.h5", "r")
ok = True
for name, base, features, positions in (
        ("ablate", "clean_baseline", list(range(16)), list(range(15))),
        ("patch", "corrupted_baseline", list(range(8)) + list(range(100, 108)), list(range(7, 15)))):
    g = f["analyses"][name]
    axes = [a.decode() if isinstance(a, bytes) else str(a) for a in g.attrs["axes"]]
    ok &= axes == ["feature", "pos"]
    ok &= [int(x) for x in g["feature"][()]] == features
    ok &= [int(x) for x in g["pos"][()]] == positions
    values = np.asarray(g["per_prompt"][()])  # [prompt, feature, pos]
    baseline = np.asarray(g[base][()]).reshape(-1, 1, 1)
    same = np.abs(values - baseline) <= 1e-5
    moved = np.abs(values - baseline) > 1e-3
    print(f"{name}: {values.size} cells, {int(same.sum())} equal the {base.split('_')[0]} run "
          f"(|diff| <= 1e-5), {int(moved.sum())} move it by > 1e-3")
    ok &= bool(same.sum() > values.size // 10) and bool(moved.sum() > values.size // 10)
    mean = np.asarray(g["mean"][()]) - float(baseline.mean())
    top = np.dstack(np.unravel_index(np.argsort(-np.abs(mean), axis=None)[:3], mean.shape))[0]
    print("  largest mean effects: " + ", ".join(
        f"feature {features[i]} pos {positions[j]}: {mean[i, j]:+.3f}" for i, j in top))
estimate = np.asarray(f["analyses"]["estimate"]["per_prompt"][()])
patched = np.asarray(f["analyses"]["patch"]["per_prompt"][()])
worst = float(np.abs(estimate - patched).max())
corr = float(np.corrcoef(estimate.ravel(), patched.ravel())[0, 1])
print(f"estimate: max |attribution - patched| {worst:.3g}, correlation {corr:.3f}")
ok &= worst < 0.1
sys.exit(0 if ok else 1)
