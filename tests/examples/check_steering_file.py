"""A steering job whose direction comes from a .npy file, end to end.
  prepare DIR MODEL: writes DIR/v.npy, the unembedding direction of answer 100 over wrong 120
    through ln_final (v = ln_f.weight * (W_E[100] - W_E[120]), centred: the direction that moves
    logit(100) - logit(120) most at the last block's hook_resid_post), and DIR/job.yaml steering
    with it at layer 1;
  check DIR: sweep.h5's logit difference rises strictly with the scale, and the top token is the
    wrong answer at the most negative scale and the answer at the most positive one.
Exit 0 = all hold."""
import sys

import h5py
import numpy as np

from safetensors_np import safetensors

ANSWER, WRONG = 100, 120
mode, out = sys.argv[1], sys.argv[2]
if mode == "prepare":
    model = sys.argv[3]
    w = safetensors(model + "/model.safetensors")
    g = w["ln_f.weight"] * (w["wte.weight"][ANSWER] - w["wte.weight"][WRONG])
    np.save(out + "/v.npy", (g - g.mean()).astype(np.float32))
    open(out + "/job.yaml", "w").write(f"""name: steering_file
model:
  path: {model}
prompts:
  - clean: [40, 41, 42, 43, 44, 40, 41, 42]
    corrupted: [40, 41, 42, 43, 44, 50, 51, 52]
    answer: {ANSWER}
    wrong: {WRONG}
analyses:
  - name: s
    kind: steering
    layers: [1]
    scales: [-4, -2, 0, 2, 4]
    direction: {{file: v.npy}}
    normalize: true
""")
    sys.exit(0)
g = h5py.File(out + "/store/sweep.h5", "r")["analyses"]["s"]
mean = np.asarray(g["mean"][()])[0]  # [scale, quantity]
diff = mean[:, 0]
tops = [int(t) for t in mean[:, 2]]
print("steering from v.npy at layer 1: logit_diff", np.round(diff, 2).tolist(), "top tokens", tops)
ok = bool(np.all(np.diff(diff) > 0)) and tops[0] == WRONG and tops[-1] == ANSWER
sys.exit(0 if ok else 1)
