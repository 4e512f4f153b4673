"""Checks, from the reduced stores of examples/induction.yaml (argv[1]) and of its companion
tests/examples/induction_loss.yaml (argv[2], same prompts, metric logprob), that the sweep
finds the bundled model's induction circuit. Reads only sweep.h5 (never the model card).
Issue 7, requirement 4: the largest head effect is the head with the highest induction score,
in the last layer, clearly ahead of the rest; a layer-0 previous-token head feeds it; and
ablating it raises the loss on the repeated half. Exit 0 = found."""
import sys

import h5py
import numpy as np


def analyses(store):
    return h5py.File(store + "/sweep.h5", "r")["analyses"]


main, loss_run = analyses(sys.argv[1]), analyses(sys.argv[2])


def mean(group, name, axes):
    got = [a.decode() if isinstance(a, bytes) else str(a) for a in group[name].attrs["axes"]]
    assert got == axes, f"{name}: axes {got}, expected {axes}"
    return np.asarray(group[name]["mean"][()], dtype=np.float64)


def second_largest(values, top):
    rest = values.copy()
    rest[top] = -np.inf
    return rest.max()


patch = mean(main, "head_out", ["layer", "head"])          # logit diff with that head's clean output restored
scores = mean(main, "head_scores", ["score", "layer", "head"])  # previous_token, duplicate_token, induction
ablation = mean(main, "head_ablation", ["layer", "head"])  # logit diff with that head zeroed
lens = mean(main, "lens", ["layer", "quantity"])           # logit_diff, prob per layer (last = the model's output)
ablation_logprob = mean(loss_run, "head_ablation", ["layer", "head"])
lens_logprob = mean(loss_run, "lens", ["layer", "quantity"])
n_layers = patch.shape[0]
prev_score, induction_score = scores[0], scores[2]

# The corrupted run restores nothing (its logit diff is ~0: neither token is predictable), so
# the patched logit diff is the head's effect.
effect = np.abs(patch)
top = np.unravel_index(np.argmax(effect), effect.shape)
best_induction = np.unravel_index(np.argmax(induction_score), induction_score.shape)
best_prev = np.unravel_index(np.argmax(prev_score), prev_score.shape)
clean_logit_diff = lens[n_layers - 1, 0]
clean_loss = -lens_logprob[n_layers - 1, 0]
ablated_loss = -ablation_logprob[top]

failures = []
if top[0] != n_layers - 1:
    failures.append(f"largest head effect is head {top}, not in the last layer")
if best_induction != top:
    failures.append(f"highest induction score is head {best_induction}, not the top-effect head {top}")
if induction_score[top] < 0.5:
    failures.append(f"top head {top} has induction score {induction_score[top]:.3f} < 0.5")
if induction_score[top] - second_largest(induction_score, top) < 0.1:
    failures.append(f"top head's induction score {induction_score[top]:.3f} is not >= 0.1 ahead of the next "
                    f"({second_largest(induction_score, top):.3f})")
if second_largest(effect, top) > 0.5 * effect[top]:
    failures.append(f"top head's effect {effect[top]:.3f} is not clearly ahead: the next is {second_largest(effect, top):.3f}")
if best_prev[0] != 0 or prev_score[best_prev] < 0.5:
    failures.append(f"no previous-token head in layer 0 (best {best_prev}: {prev_score[best_prev]:.3f})")
if not ablation[top] < 0.75 * clean_logit_diff:
    failures.append(f"ablating {top} does not cut the logit diff by a quarter ({ablation[top]:.3f} vs clean "
                    f"{clean_logit_diff:.3f})")
if not ablated_loss > clean_loss + 0.5:
    failures.append(f"ablating {top} does not raise the loss on the repeated half by 0.5 nats "
                    f"({ablated_loss:.3f} vs clean {clean_loss:.3f})")
print(f"top head {top}: patched logit diff {patch[top]:.3f} (next {second_largest(effect, top):.3f}), "
      f"induction score {induction_score[top]:.3f} (next {second_largest(induction_score, top):.3f}); "
      f"previous-token head {best_prev} ({prev_score[best_prev]:.3f}); ablating {top}: logit diff "
      f"{clean_logit_diff:.3f} -> {ablation[top]:.3f}, loss {clean_loss:.3f} -> {ablated_loss:.3f} nats")
for msg in failures:
    print("FAIL:", msg)
sys.exit(1 if failures else 0)
