"""Checks, from a reduced store of examples/induction.yaml, that the sweep finds the bundled
model's induction circuit. Reads only sweep.h5 (not the model card). Exit 0 = found."""
import sys

import h5py
import numpy as np

f = h5py.File(sys.argv[1] + "/sweep.h5", "r")["analyses"]


def mean(name):
    return np.asarray(f[name]["mean"][()])


def axis_labels(name, axis):
    names = [a.decode() if isinstance(a, bytes) else a for a in f[name].attrs["axes"]]
    return names


patch = mean("head_out")              # [layer, head]: logit_diff with that head's output restored
scores = mean("head_scores")          # [score, layer, head]: previous_token, duplicate_token, induction
ablation = mean("head_ablation")      # [layer, head]: logit_diff with that head zeroed
lens = mean("lens")                   # [layer, quantity]: logit_diff, prob
n_layers = patch.shape[0]
prev_score, induction_score = scores[0], scores[2]

top = np.unravel_index(np.argmax(np.abs(patch)), patch.shape)
failures = []
if top[0] != n_layers - 1:
    failures.append(f"largest head effect is head {top}, not in the last (induction) layer")
if induction_score[top] < 0.5:
    failures.append(f"top head {top} has induction score {induction_score[top]:.3f} < 0.5")
best_induction = np.unravel_index(np.argmax(induction_score), induction_score.shape)
if best_induction[0] != n_layers - 1:
    failures.append(f"highest induction score is head {best_induction}, not in the last layer")
if induction_score[0].max() > 0.2:
    failures.append(f"a layer-0 head has induction score {induction_score[0].max():.3f}")
best_prev = np.unravel_index(np.argmax(prev_score), prev_score.shape)
if best_prev[0] != 0 or prev_score[best_prev] < 0.5:
    failures.append(f"no previous-token head in layer 0 (best {best_prev}: {prev_score[best_prev]:.3f})")
clean_logit_diff = lens[n_layers - 1, 0]
if not ablation[top] < clean_logit_diff:
    failures.append(f"ablating {top} does not lower the logit diff ({ablation[top]:.3f} vs clean {clean_logit_diff:.3f})")
print(f"top head {top}: patching {patch[top]:.3f}, induction score {induction_score[top]:.3f}; "
      f"best induction head {best_induction} ({induction_score[best_induction]:.3f}); "
      f"previous-token head {best_prev} ({prev_score[best_prev]:.3f}); "
      f"ablating {top}: logit diff {ablation[top]:.3f} vs clean {clean_logit_diff:.3f}")
for msg in failures:
    print("FAIL:", msg)
sys.exit(1 if failures else 0)
