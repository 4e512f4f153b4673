"""The faithfulness curve of a circuit_faithfulness analysis in a reduced store, printed, and the
end of a check: what check_circuit_faithfulness.py and check_edge_circuit.py share."""
import sys

import h5py


def read_curve(store, analysis, unit):
    """Prints the curve (f per size with its 95 % interval, CPR, CMD) and returns the
    faithfulness group, the sizes, f and the intervals."""
    f = h5py.File(store + "/sweep.h5", "r")
    g = f[f"analyses/{analysis}/faithfulness"]
    sizes, fa, ci = g["size"][()], g["faithfulness"][()], g["faithfulness_ci"][()]
    for n, v, (lo, hi) in zip(sizes, fa, ci):
        print(f"  {n} {unit}: f = {v:.3f} [{lo:.3f}, {hi:.3f}]")
    print(f"  CPR {g['cpr'][()]:.3f} {g['cpr_ci'][()].round(3).tolist()}, "
          f"CMD {g['cmd'][()]:.3f} {g['cmd_ci'][()].round(3).tolist()} over "
          f"{g.attrs['prompts']} prompts")
    return g, sizes, fa, ci


def finish(store, failures):
    """Adds a failure when report.html lacks the curve or the circuit's drawing, prints every
    failure and exits (0: none)."""
    html = open(store + "/report.html").read()
    if '<figure class="circuit"><svg' not in html or '<figure class="faithfulness"><svg' not in html:
        failures.append("report.html lacks the faithfulness curve or the circuit graph")
    for x in failures:
        print("FAIL:", x)
    sys.exit(1 if failures else 0)
