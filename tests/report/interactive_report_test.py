"""report.html's interactive views in headless Chromium, on a real sweep.

Runs `csweep run` + `csweep reduce` of a small job (examples/induction.yaml on the bundled
2-layer model), opens report.html from disk and, through real mouse and key events:
  - hovering a cell shows the value sweep.h5 holds there (read with h5py), its sem and n;
  - the prompt selector changes the plotted colours and the hovered value becomes the
    prompt's own (sweep.h5's per_prompt);
  - the position slider moves the grid to another position (other colours, that token);
  - the attention-pattern view draws tokens x tokens and hovers sweep.h5's pattern values;
  - the page loads nothing from outside.
Screenshots go to --screenshots. Exit 77 (ctest: skipped) when Chromium is not installed.
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from headless_chromium import Chromium, find_chromium  # noqa: E402

ANALYSIS = "head_out_by_pos"  # layer x pos x head: the grid with a position slider
FAILURES = []


def check(ok, what):
    print(("ok      " if ok else "FAILED  ") + what)
    if not ok:
        FAILURES.append(what)


def close(a, b, rel=2e-4):
    return abs(a - b) <= rel * max(1.0, abs(b))


def run(command, cwd=None):
    r = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s: exit %d\n%s%s" % (" ".join(command), r.returncode, r.stdout, r.stderr))


class Page:
    def __init__(self, browser, analysis):
        self.c = browser
        self.root = '.csw-heatmap[data-analysis="%s"]' % analysis

    def js(self, body):
        return self.c.evaluate("(function(){var root=document.querySelector('%s');%s})()" %
                               (self.root.replace("'", "\\'"), body))

    def fills(self):
        return self.js("return Array.from(root.querySelectorAll('rect[data-r]'))"
                       ".map(function(r){return r.getAttribute('fill')});")

    def hover(self, r, c, scope=None):
        """Moves the mouse onto the cell and returns the tooltip's fields by data-role."""
        root = scope or self.root
        box = self.c.evaluate(
            "(function(){var e=document.querySelector('%s rect[data-r=\"%d\"][data-c=\"%d\"]');"
            "e.scrollIntoView({block:'nearest'});var b=e.getBoundingClientRect();"
            "return [b.x+b.width/2,b.y+b.height/2];})()" % (root, r, c))
        self.c.move_mouse(box[0] + 1, box[1] + 1)
        self.c.move_mouse(box[0], box[1])
        time.sleep(0.1)
        return self.c.evaluate(
            "(function(){var t=document.querySelector('.csw-tip');"
            "if(!t||t.style.display==='none')return null;var o={};"
            "t.querySelectorAll('[data-role]').forEach(function(e){o[e.dataset.role]=e.textContent});"
            "return o;})()")

    def choose(self, role, value):
        self.js("var s=root.querySelector('[data-role=%s]');s.value='%s';"
                "s.dispatchEvent(new Event('change'));" % (role, value))

    def top(self, selector=None):
        """Scrolls the view to the top of the window (before hovering: a screenshot must not
        scroll, or the pointer would leave the cell)."""
        self.c.evaluate("document.querySelector('%s').scrollIntoView()" % (selector or self.root))

    def shot(self, path, selector=None, pad=10, below=80):  # below: room for a tooltip
        box = self.c.evaluate(
            "(function(){var b=document.querySelector('%s').getBoundingClientRect();"
            "return [b.x,b.y+window.scrollY,b.width,b.height];})()" % (selector or self.root))
        self.c.screenshot(path, {"x": 0, "y": max(0, box[1] - pad), "width": 1100,
                                 "height": box[3] + pad + below})


def number(text):
    return float(text.replace("\u2212", "-"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csweep", required=True)
    ap.add_argument("--job", required=True)
    ap.add_argument("--screenshots", required=True)
    args = ap.parse_args()
    chromium = find_chromium()
    if not chromium:
        print("SKIPPED: no chromium on PATH (scripts/test.sh installs it: CSWEEP_WITH_CHROMIUM=1 "
              "scripts/install-deps.sh)")
        return 77
    os.makedirs(args.screenshots, exist_ok=True)
    work = tempfile.mkdtemp(prefix="csweep-interactive-")
    store = os.path.join(work, "store")
    run([args.csweep, "run", args.job, "--store", store])
    run([args.csweep, "reduce", store])

    with h5py.File(os.path.join(store, "sweep.h5"), "r") as f:
        g = f["analyses/" + ANALYSIS]
        axes = [d.label for d in g["mean"].dims]
        mean, sem, n = g["mean"][()], g["sem"][()], g["n_done"][()]
        per_prompt = g["per_prompt"][()]
        f_recovered = g["fraction_recovered"][()]
        tokens = g["position_tokens"].asstr()[()]
        positions = g["pos"][()]
        patterns = f["attention_patterns/pattern"][()] if "attention_patterns" in f else None
        pattern_tokens = (f["attention_patterns/tokens"].asstr()[()]
                          if patterns is not None else None)
    check(axes == ["layer", "pos", "head"], "%s axes are layer, pos, head (%s)" % (ANALYSIS, axes))

    with Chromium(chromium, width=1100, height=1200) as c:
        c.open("file://" + os.path.join(store, "report.html"),
               "document.body && document.body.getAttribute('data-csw-ready')")
        outside = c.evaluate(
            "performance.getEntriesByType('resource').map(function(e){return e.name})"
            ".filter(function(n){return !/^(data|file):/.test(n)})")
        check(outside == [], "the page loads nothing from outside (%s)" % outside)
        p = Page(c, ANALYSIS)
        views = p.js("return Array.from(root.querySelectorAll('[data-role=view] option'))"
                     ".map(function(o){return o.value});")
        check(views and "mean" in views, "a view selector offers the mean (%s)" % views)
        p.choose("view", "mean")

        # Hover: the mean, sem and n of (layer 1, pos index 0, head 2).
        layer, head = 1, 2
        p.top()
        tip = p.hover(layer, head)
        check(tip is not None, "hovering a cell shows a tooltip")
        want = mean[layer, 0, head]
        check(tip and close(number(tip["value"]), want),
              "hover shows the mean sweep.h5 holds (%s vs %.6g)" % (tip and tip["value"], want))
        check(tip and (math.isnan(sem[layer, 0, head]) or close(number(tip["sem"]), sem[layer, 0, head], 1e-3)),
              "hover shows the sem (%s vs %.6g)" % (tip and tip["sem"], sem[layer, 0, head]))
        check(tip and int(tip["n"]) == n[layer, 0, head],
              "hover shows n (%s vs %d)" % (tip and tip["n"], n[layer, 0, head]))
        check(tip and "layer 1" in tip["cell"] and "head 2" in tip["cell"] and
              ("pos %d" % positions[0]) in tip["cell"], "hover names the cell (%s)" % (tip and tip["cell"]))
        p.shot(os.path.join(args.screenshots, "heatmap_hover.png"))

        # The prompt selector: prompt 2's own values.
        before = p.fills()
        p.choose("prompt", 2)
        after = p.fills()
        check(before != after, "the prompt selector changes the plotted colours")
        p.top()
        tip = p.hover(layer, head)
        want = per_prompt[2, layer, 0, head]
        check(tip and close(number(tip["value"]), want),
              "with prompt 2 chosen, hover shows its per_prompt value (%s vs %.6g)" %
              (tip and tip["value"], want))
        p.shot(os.path.join(args.screenshots, "heatmap_prompt.png"))
        p.choose("prompt", -1)

        # The position slider, moved by the keyboard as a user would.
        before = p.fills()
        p.js("root.querySelector('[data-role=axis-pos]').focus();")
        steps = len(positions) - 1
        for _ in range(steps):
            for kind in ("keyDown", "keyUp"):
                c.call("Input.dispatchKeyEvent", {"type": kind, "key": "ArrowRight",
                                                  "code": "ArrowRight", "windowsVirtualKeyCode": 39})
        after = p.fills()
        shown = p.js("return root.querySelector('.csw-pos').textContent;")
        check(before != after, "the position slider changes the grid")
        check(shown.startswith("%d:" % positions[-1]) and tokens[0][-1] in shown,
              "the slider shows the last position and its token (%r)" % shown)
        p.top()
        tip = p.hover(layer, head)
        want = mean[layer, -1, head]
        check(tip and close(number(tip["value"]), want),
              "after the slider, hover shows that position's mean (%s vs %.6g)" %
              (tip and tip["value"], want))
        p.shot(os.path.join(args.screenshots, "heatmap_slider.png"))

        # Layer x position with the head on the slider instead.
        p.choose("columns", 1)
        cells = len(p.fills())
        check(cells == mean.shape[0] * mean.shape[1],
              "columns = pos gives a layer x position grid (%d cells)" % cells)
        check(p.js("return !!root.querySelector('[data-role=axis-head]');"), "and a head slider")
        p.choose("view", "fraction")
        p.js("var s=root.querySelector('[data-role=axis-head]');s.value=%d;"
             "s.dispatchEvent(new Event('input'));" % head)
        p.top()
        tip = p.hover(layer, len(positions) - 1)
        want = f_recovered[layer, -1, head]
        check(tip and close(number(tip["value"]), want, 1e-3),
              "the fraction recovered of (layer 1, last pos, head 2) on hover (%s vs %.6g)" %
              (tip and tip["value"], want))
        p.shot(os.path.join(args.screenshots, "heatmap_layer_pos.png"))

        # The attention-pattern view of the top heads.
        check(patterns is not None, "sweep.h5 has /attention_patterns")
        if patterns is not None:
            k = len(pattern_tokens)
            cells = c.evaluate("document.querySelectorAll('.csw-patterns rect[data-r]').length")
            check(cells == k * k, "the pattern view draws tokens x tokens (%s cells, %d tokens)" %
                  (cells, k))
            labels = c.evaluate("Array.from(document.querySelectorAll('.csw-patterns text'))"
                                ".map(function(t){return t.textContent})")
            check(any(pattern_tokens[-1] in l for l in labels), "the pattern view labels tokens")
            p.top(".csw-patterns")
            tip = p.hover(k - 1, k // 2, ".csw-patterns")
            want = patterns[0, k - 1, k // 2]
            check(tip and close(number(tip["value"]), want, 1e-3),
                  "hovering the pattern shows sweep.h5's value (%s vs %.6g)" %
                  (tip and tip["value"], want))
            check(np.allclose(patterns.sum(-1), 1, atol=1e-4), "pattern rows sum to 1")
            p.shot(os.path.join(args.screenshots, "patterns.png"), ".csw-patterns")
    print("screenshots in", args.screenshots)
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    subprocess.run(["rm", "-rf", work])
    return 0


if __name__ == "__main__":
    sys.exit(main())
