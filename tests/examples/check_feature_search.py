"""Checks examples/sae_feature_search.yaml's reduced stores (argv[1]: one process; argv[2:]: the
same job run otherwise: two workers under mpirun, a run cut short and resumed) and prints what
it finds:
  - every sweep.h5 holds the same per-context cells and the same feature_search datasets as
    argv[1]'s, bit for bit (the merge across workers and runs is exact);
  - the feature search equals a recomputation from the per-context rows here: top contexts by
    max activation (ties: earlier context), histogram sums, density = fires / tokens, each top
    context's text with the activating token marked;
  - the repeated-copy feature (66) fires most on repeated tokens: each of its top tokens equals
    the token L positions before it for some copy length L in 6..12.
Exit 0 = all hold."""
import sys

import h5py
import numpy as np

ok = True


def check(cond, what):
    global ok
    if not cond:
        print("FAILED:", what)
    ok &= bool(cond)


def datasets(group):
    out = {}
    group.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


a = h5py.File(sys.argv[1] + "/sweep.h5", "r")
ga = a["analyses/search"]
fa = datasets(ga["feature_search"])
for other in sys.argv[2:]:
    b = h5py.File(other + "/sweep.h5", "r")
    gb = b["analyses/search"]
    fb = datasets(gb["feature_search"])
    check(sorted(fa) == sorted(fb), f"the same feature_search datasets in {other}")
    for name in fa:
        x, y = fa[name], fb.get(name)
        same = (y is not None and x.shape == y.shape and
                (np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f"
                 else np.array_equal(x, y)))
        check(same, f"feature_search/{name} equal in {sys.argv[1]} and {other}")
    check(np.array_equal(ga["per_prompt"][()], gb["per_prompt"][()], equal_nan=True),
          f"per_prompt equal in {sys.argv[1]} and {other}")
    print(f"{other}: the same feature search as {sys.argv[1]}")

s = ga["feature_search"]
labels = [q.decode() if isinstance(q, bytes) else q for q in ga["quantity"][()]]
values = ga["per_prompt"][()]  # [context, feature, quantity]
check(not np.isnan(values).any(), "every cell computed")
qi = {q: i for i, q in enumerate(labels)}
bins = [qi[q] for q in labels if q.startswith("bin_")]
ids = a["prompts/clean_ids"][()]
tokens = (ids >= 0).sum(1)
k = int(s.attrs["top_k"])
check(k == 5, "reduce.top_k contexts per feature")
features = s["feature"][()]
check(list(features) == list(range(128)), "every feature")
hist = values[:, :, bins].sum(0)
check(np.array_equal(s["histogram"][()], hist.astype(np.int64)), "histogram = sum of the rows")
fires = values[:, :, qi["fires"]].sum(0)
check(np.array_equal(s["fires"][()], fires.astype(np.int64)), "fires = sum of the rows")
check(np.array_equal(hist.sum(1), fires), "the histogram counts every firing token")
check(np.allclose(s["density"][()], fires / tokens.sum()), "density = fires / tokens")
prompt_ids = [p.decode() for p in a["prompts/id"][()]]
for f in range(128):
    mx = values[:, f, qi["max"]]
    order = [c for c in sorted(range(len(mx)), key=lambda c: (-mx[c], c)) if mx[c] > 0][:k]
    got = [int(c) for c in s["top_prompt"][f] if c >= 0]
    check(got == order, f"feature {f}: top contexts {got} != {order}")
    for r, c in enumerate(order):
        check(s["top_activation"][f, r] == mx[c], f"feature {f} rank {r}: activation")
        check(s["top_position"][f, r] == values[c, f, qi["argmax"]], f"feature {f}: position")
        check(s["top_context_id"][f, r].decode() == prompt_ids[c], f"feature {f}: context id")
        check(s["top_context"][f, r].decode().count("[[") == 1, f"feature {f}: one marked token")

repeat = 66
firing = int((fires > 0).sum())
print(f"{firing} of 128 features fire on the {int(tokens.sum())} corpus tokens; feature {repeat}: "
      f"density {s['density'][repeat]:.3f}, histogram {list(s['histogram'][repeat])}")
in_copy = 0
for r in range(k):
    c, p = int(s["top_prompt"][repeat, r]), int(s["top_position"][repeat, r])
    back = [L for L in range(6, 13) if p - L >= 0 and ids[c, p] == ids[c, p - L]]
    in_copy += bool(back)
    print(f"  top {r}: {prompt_ids[c]} pos {p} act {s['top_activation'][repeat, r]:.3f}, "
          f"repeats the token {back} back: {s['top_context'][repeat, r].decode()}")
check(in_copy == k, f"feature {repeat}'s top tokens all repeat a token 6..12 back")
print("feature search checks:", "ok" if ok else "FAILED")
sys.exit(0 if ok else 1)
