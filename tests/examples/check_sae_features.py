"""Checks examples/sae_features.yaml's reduced store (argv[1]) and prints what it finds:
  - every grid is [feature, pos], the feature axis holding the SAE's feature ids 0..127;
  - the SAE's error term is kept: a cell whose feature does not fire (ablation) or has the same
    value in both runs (patching) is the unedited run, and an edit before the last position of
    the last block's residual stream cannot reach the last position's logits: those cells all
    equal their baseline (|diff| <= 1e-5);
  - zeroing one feature (the repeated-copy feature the training script reports) at the last
    position removes more than half of the clean logit difference, and no other feature a
    tenth as much;
  - attribution (AtP in feature space) estimates the patching cells within 0.5 (first order);
  - the stage `verified` patched exactly the cells STORE/stages/verified.json chose (the
    estimate's top 8 by |mean effect| + 8 random), each equal to the same cell of `patch`.
Exit 0 = all hold."""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1] + "/sweep.h5", "r")
ok = True
effects = {}
for name, base, positions in (("ablate", "clean_baseline", list(range(15))),
                              ("patch", "corrupted_baseline", list(range(7, 15))),
                              ("estimate", "corrupted_baseline", list(range(7, 15)))):
    g = f["analyses"][name]
    axes = [a.decode() if isinstance(a, bytes) else str(a) for a in g.attrs["axes"]]
    ok &= axes == ["feature", "pos"]
    ok &= [int(x) for x in g["feature"][()]] == list(range(128))
    ok &= [int(x) for x in g["pos"][()]] == positions
    values = np.asarray(g["per_prompt"][()])  # [prompt, feature, pos]
    diff = values - np.asarray(g[base][()]).reshape(-1, 1, 1)
    before_last = np.abs(diff[:, :, :-1]).max()
    same = float((np.abs(diff) <= 1e-5).mean())
    print(f"{name}: {values.size} cells, {same:.1%} equal the {base.split('_')[0]} run; "
          f"max |effect| before the last position {before_last:.1e}")
    ok &= before_last <= 1e-5
    effects[name] = diff.mean(0)[:, -1]  # per feature, at the last position
clean = float(np.asarray(f["analyses"]["ablate"]["clean_baseline"][()]).mean())
order = np.argsort(effects["ablate"])
top, second = int(order[0]), int(order[1])
print(f"ablation at the last position: feature {top} {effects['ablate'][top]:+.3f} of the clean "
      f"logit difference {clean:.3f}; next feature {second} {effects['ablate'][second]:+.3f}")
ok &= effects["ablate"][top] < -0.5 * clean
ok &= bool(np.all(np.abs(np.delete(effects["ablate"], top)) < 0.1 * clean))
estimate = np.asarray(f["analyses"]["estimate"]["per_prompt"][()])
patched = np.asarray(f["analyses"]["patch"]["per_prompt"][()])
worst = float(np.abs(estimate - patched).max())
print(f"patching feature {top} at the last position: {effects['patch'][top]:+.3f}, estimated "
      f"{effects['estimate'][top]:+.3f}; max |attribution - patched| {worst:.3g}")
ok &= worst < 0.5
import json
chosen = json.load(open(sys.argv[1] + "/stages/verified.json"))
verified = np.asarray(f["analyses"]["verified"]["per_prompt"][()])  # [prompt, candidate]
cells = np.asarray(chosen["cells"])
same = np.array_equal(verified, patched.reshape(patched.shape[0], -1)[:, cells])
mean_effect = (estimate - np.asarray(f["analyses"]["estimate"]["corrupted_baseline"][()])
               .reshape(-1, 1, 1)).mean(0).reshape(-1)
top = np.argsort(-np.abs(mean_effect), kind="stable")[:8]
print(f"verified: {len(cells)} cells ({chosen['labels'][0]} first), equal to patch's: {same}; "
      f"the estimate's top 8: {sorted(top.tolist()) == sorted(chosen['chosen'][:8])}")
ok &= same and sorted(top.tolist()) == sorted(chosen["chosen"][:8]) and chosen["top_k"] == 8
sys.exit(0 if ok else 1)
