"""Checks examples/steering.yaml's reduced store (argv[1]) with the csweep binary (argv[2]) and
the model (argv[3]), then prints what the example finds:
  - scale 0 at every layer is the clean run: the same logit difference at every layer, bit for
    bit, equal to the one `csweep forward` gives for the clean prompt (its own full forward),
    KL exactly 0 and the clean run's top token;
  - every other scale moves the distribution (KL > 0), the mean KL more at |scale| 2 than 0.5;
  - at the last layer the mean logit difference rises with the scale from -0.5 through 0 to 0.5.
Exit 0 = all hold."""
import json
import subprocess
import sys

import h5py
import numpy as np

store, csweep, model_dir = sys.argv[1], sys.argv[2], sys.argv[3]
f = h5py.File(store + "/sweep.h5", "r")
g = f["analyses"]["steer"]
axes = [a.decode() if isinstance(a, bytes) else str(a) for a in g.attrs["axes"]]
assert axes == ["layer", "scale", "quantity"], axes
values = np.asarray(g["per_prompt"][()])  # [prompt, layer, scale, quantity]
scales = [s.decode() for s in g["scale"][()]]
assert scales == ["-2", "-1", "-0.5", "0", "0.5", "1", "2"], scales
zero = scales.index("0")
prompts = f["prompts"]
ok = True
worst = 0.0
for p in range(values.shape[0]):
    n = int(prompts["n_tokens"][p])
    ids = [int(t) for t in prompts["clean_ids"][p][:n]]
    out = json.loads(subprocess.run([csweep, "forward", "--model", model_dir, "--tokens",
                                     ",".join(map(str, ids)), "--json"],
                                    check=True, capture_output=True, text=True).stdout)
    logits = np.asarray(out["logits_last"], dtype=np.float32)
    a, w = int(prompts["answer_ids"][p][0]), int(prompts["wrong_ids"][p][0])
    clean = logits[a] - logits[w]
    at_zero = values[p, :, zero, :]
    ok &= bool(np.all(at_zero[:, 0] == at_zero[0, 0]))  # every layer: the same clean run
    ok &= bool(np.all(at_zero[:, 1] == 0.0))
    ok &= bool(np.all(at_zero[:, 2] == np.argmax(logits)))
    worst = max(worst, abs(float(at_zero[0, 0]) - float(clean)))
    moved = np.delete(values[p, :, :, 1], zero, axis=1)
    ok &= bool(np.all(moved > 0.0))
print(f"steering: scale 0 = the clean run at every layer; |csweep forward - scale 0| <= {worst:.1e}")
ok &= worst < 1e-5
mean = np.asarray(g["mean"][()])
for small, big in (("0.5", "2"), ("-0.5", "-2")):  # the mean KL grows with |scale|
    ok &= bool(np.all(mean[:, scales.index(big), 1] > mean[:, scales.index(small), 1]))
# At the last layer the clean-minus-corrupted direction carries the induction answer: the mean
# logit difference rises with the scale around 0.
last = mean[-1, :, 0]
ok &= bool(last[scales.index("-0.5")] < last[zero] < last[scales.index("0.5")])
for layer in range(mean.shape[0]):
    print(f"  layer {layer}: logit_diff " +
          " ".join(f"{s}:{mean[layer, i, 0]:+.2f}" for i, s in enumerate(scales)) +
          "  KL " + " ".join(f"{s}:{mean[layer, i, 1]:.3f}" for i, s in enumerate(scales)))
sys.exit(0 if ok else 1)
