// report.html's interactive views, inlined into the page by `csweep reduce` (CMake turns this
// file into a C++ string at build time; see report/CMakeLists.txt). No libraries, no network:
// the page must open from disk years later. Each <div class="csw-heatmap"> and
// <div class="csw-patterns"> holds its data as JSON in a <script type="application/json">.
(function () {
  'use strict';

  var SVG = 'http://www.w3.org/2000/svg';
  // ColorBrewer RdBu reversed, -1 (blue) .. +1 (red): the PNG heatmaps' map (report/colormap.cpp).
  var STOPS = [0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
               0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f];
  var MISSING = '#cccccc';

  function colour(t) {  // t in [-1, 1]; sequential scales use [0, 1] (white to red)
    if (t === null || isNaN(t)) return MISSING;
    t = Math.max(-1, Math.min(1, t));
    var x = (t + 1) / 2 * (STOPS.length - 1), i = Math.min(Math.floor(x), STOPS.length - 2);
    var f = x - i, a = STOPS[i], b = STOPS[i + 1], out = [];
    for (var s = 16; s >= 0; s -= 8) {
      var ca = (a >> s) & 255, cb = (b >> s) & 255;
      out.push(Math.round(ca + f * (cb - ca)));
    }
    return 'rgb(' + out.join(',') + ')';
  }

  function fmt(v) {
    if (v === null || v === undefined || isNaN(v)) return '\u2013';
    var a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(4) : String(+v.toPrecision(5));
  }

  function el(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function svg(tag, attrs, parent, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }

  function labelled(parent, text, control) {
    var l = el('label', {}, parent, text + ' ');
    l.appendChild(control);
    return control;
  }

  function select(parent, text, options, onchange) {  // options: [[value, label], ...]
    var s = el('select', {}, null);
    options.forEach(function (o) { el('option', { value: o[0] }, s, o[1]); });
    s.addEventListener('change', onchange);
    return labelled(parent, text, s);
  }

  // One tooltip for the page, placed next to the pointer.
  var tip = null;
  function showTip(event, lines) {
    if (!tip) tip = el('div', { 'class': 'csw-tip' }, document.body);
    tip.innerHTML = '';
    lines.forEach(function (l) {
      var row = el('div', {}, tip);
      if (l[0]) el('span', { 'class': 'k' }, row, l[0] + ' ');
      el('span', { 'class': 'v', 'data-role': l[2] || '' }, row, l[1]);
    });
    tip.style.display = 'block';
    tip.style.left = (event.pageX + 14) + 'px';
    tip.style.top = (event.pageY + 14) + 'px';
  }
  function hideTip() { if (tip) tip.style.display = 'none'; }

  // Draws a grid of rows x cols cells into a new <svg>: labels on both axes (thinned so they
  // never overlap), one <rect> per cell carrying data-r/data-c for the hover handler.
  function drawGrid(parent, g) {
    var cw = Math.max(6, Math.min(56, Math.floor(760 / g.cols)));
    var ch = Math.max(6, Math.min(40, Math.floor(520 / g.rows)));
    if (g.square) cw = ch = Math.min(cw, ch);
    var rowText = Math.max.apply(null, g.rowLabels.map(function (s) { return s.length; }).concat([1]));
    var colText = Math.max.apply(null, g.colLabels.map(function (s) { return s.length; }).concat([1]));
    var left = 30 + Math.min(rowText, 24) * 7, top = 30 + Math.min(colText, 24) * 6;
    var barHeight = Math.max(80, Math.min(g.rows * ch, 260));
    var width = left + g.cols * cw + Math.max(120, 40 + 7 * g.valueLabel.length);
    var height = top + Math.max(g.rows * ch, barHeight + 24) + 12;
    var s = svg('svg', { width: width, height: height, 'class': 'csw-grid' }, parent);
    svg('text', { x: left + g.cols * cw / 2, y: 12, 'text-anchor': 'middle', 'class': 'ax' }, s, g.colTitle);
    svg('text', { x: 12, y: top + g.rows * ch / 2, 'text-anchor': 'middle', 'class': 'ax',
                  transform: 'rotate(-90 12 ' + (top + g.rows * ch / 2) + ')' }, s, g.rowTitle);
    var rowStep = Math.ceil(12 / ch), colStep = Math.ceil(12 / cw);
    g.rowLabels.forEach(function (l, r) {
      if (r % rowStep) return;
      svg('text', { x: left - 4, y: top + (r + 0.5) * ch + 4, 'text-anchor': 'end' }, s, l.slice(0, 24));
    });
    g.colLabels.forEach(function (l, c) {
      if (c % colStep) return;
      var x = left + (c + 0.5) * cw + 4, y = top - 4;
      svg('text', { x: x, y: y, transform: 'rotate(-60 ' + x + ' ' + y + ')' }, s, l.slice(0, 24));
    });
    var cells = svg('g', { 'class': 'cells' }, s);
    for (var r = 0; r < g.rows; ++r)
      for (var c = 0; c < g.cols; ++c)
        svg('rect', { x: left + c * cw, y: top + r * ch, width: cw - 1, height: ch - 1,
                      fill: g.text ? '#f4f4f4' : colour(g.t(r, c)), 'data-r': r, 'data-c': c }, cells);
    if (g.text && cw >= 30 && ch >= 12)  // token ids are no colour: their text, in the cell
      for (r = 0; r < g.rows; ++r)
        for (c = 0; c < g.cols; ++c)
          svg('text', { x: left + (c + 0.5) * cw, y: top + (r + 0.5) * ch + 4, 'text-anchor': 'middle',
                        'pointer-events': 'none' }, s, g.text(r, c).slice(0, 6));
    cells.addEventListener('mousemove', function (e) {
      var t = e.target;
      if (t.tagName !== 'rect') return;
      showTip(e, g.tip(+t.getAttribute('data-r'), +t.getAttribute('data-c')));
    });
    cells.addEventListener('mouseleave', hideTip);
    if (!g.text) drawColourBar(s, left + g.cols * cw + 24, top, barHeight, g);
    return s;
  }

  function drawColourBar(s, x, y, h, g) {
    var n = 40, lo = g.sequential ? 0 : -1;
    for (var i = 0; i < n; ++i) {
      var t = 1 - (i + 0.5) / n * (1 - lo);
      svg('rect', { x: x, y: y + i * h / n, width: 14, height: h / n + 0.5, fill: colour(t) }, s);
    }
    var ticks = g.sequential ? [1, 0.5, 0] : [1, 0, -1];
    ticks.forEach(function (t) {
      var ty = y + (1 - t) / (1 - lo) * h;
      svg('text', { x: x + 18, y: ty + 4 }, s, fmt(t * g.limit));
    });
    svg('text', { x: x, y: y + h + 16, 'class': 'ax' }, s, g.valueLabel);
  }

  // ---- heatmaps of an analysis grid ----------------------------------------------------

  function Heatmap(root, d) {
    this.root = root;
    this.d = d;
    var n = d.axes.length;
    this.stride = [];
    for (var i = n - 1, s = 1; i >= 0; --i) { this.stride[i] = s; s *= d.axes[i].labels.length; }
    this.index = d.axes.map(function () { return 0; });  // the chosen entry of every other axis
    this.row = d.row;
    this.col = d.col;
    this.view = d.views[0].key;
    this.prompt = -1;  // -1: the mean over prompts
    this.build();
  }

  // What the grid shows now: the view (mean or fraction) and, with a quantity axis, the chosen
  // quantity's units and scale.
  Heatmap.prototype.shown = function () {
    var d = this.d, self = this, q = d.quantity_axis;
    var view = d.views.filter(function (v) { return v.key === self.view; })[0];
    var out = { label: view.label, limit: view.limit, sequential: d.sequential, tokens: false };
    if (view.key !== 'mean') out.sequential = false;
    if (view.key === 'fraction') return out;
    if (q >= 0 && d.quantities[this.index[q]]) {
      var quantity = d.quantities[this.index[q]];
      out.label = view.key === 'effect' ? view.label : quantity.label;
      out.sequential = view.key === 'mean' && quantity.sequential;
      out.tokens = quantity.token_ids;
    }
    return out;
  };

  Heatmap.prototype.token = function (v) {
    if (v === null || isNaN(v)) return '\u2013';
    var t = (this.d.token_text || {})[String(v)];
    return t === undefined ? 'id ' + v : JSON.stringify(t) + ' (id ' + v + ')';
  };

  Heatmap.prototype.values = function () {  // the flat array shown now
    var d = this.d;
    if (this.prompt < 0) return d.stats[this.view];
    if (this.view === 'fraction') return d.fraction_per_prompt[this.prompt];
    var values = d.per_prompt[this.prompt], from = this.view === 'effect' ? d.effect_from[this.prompt] : 0;
    if (!from) return values;
    return values.map(function (v) { return v === null ? null : v - from; });
  };

  Heatmap.prototype.axisLabels = function (a) {  // position labels follow the chosen prompt
    var axis = this.d.axes[a];
    if (axis.prompt_labels && this.prompt >= 0) return axis.prompt_labels[this.prompt];
    return axis.labels;
  };

  Heatmap.prototype.cell = function (r, c) {
    var k = 0, self = this;
    this.index.forEach(function (v, a) {
      var i = a === self.row ? r : a === self.col ? c : v;
      k += i * self.stride[a];
    });
    return k;
  };

  // Colour range: max |value| over every cell that shares the chosen entries of the named
  // axes (site, quantity, score: each its own units), so moving a position slider keeps the scale.
  Heatmap.prototype.limit = function () {
    var shown = this.shown();
    if (shown.limit) return shown.limit;
    var values = this.values(), d = this.d, self = this, m = 0;
    var fixed = [];
    d.axes.forEach(function (axis, a) {
      if (axis.role === 'named' && a !== self.row && a !== self.col) fixed.push(a);
    });
    for (var k = 0; k < values.length; ++k) {
      var v = values[k];
      if (v === null || !isFinite(v)) continue;
      var keep = fixed.every(function (a) {
        return Math.floor(k / self.stride[a]) % d.axes[a].labels.length === self.index[a];
      });
      if (keep) m = Math.max(m, Math.abs(v));
    }
    return m > 0 ? m : 1;
  };

  Heatmap.prototype.build = function () {
    var self = this, d = this.d;
    this.root.innerHTML = '';
    var bar = el('div', { 'class': 'csw-controls' }, this.root);
    if (d.views.length > 1)
      select(bar, 'show', d.views.map(function (v) { return [v.key, v.label]; }), function () {
        self.view = this.value; self.draw();
      }).setAttribute('data-role', 'view');
    if (d.prompts.length > 0) {
      var options = [[-1, d.value_owner]];
      d.prompts.forEach(function (p, i) { options.push([i, 'prompt ' + p]); });
      select(bar, 'prompt', options, function () { self.prompt = +this.value; self.draw(); })
        .setAttribute('data-role', 'prompt');
    }
    var colChoices = d.col_choices || [];
    if (colChoices.length > 1)
      select(bar, 'columns', colChoices.map(function (a) { return [a, d.axes[a].name]; }), function () {
        self.col = +this.value; self.index = self.index.map(function () { return 0; }); self.build();
      }).setAttribute('data-role', 'columns');
    if (colChoices.length > 1) bar.querySelector('[data-role=columns]').value = this.col;
    this.sliders = [];
    d.axes.forEach(function (axis, a) {
      if (a === self.row || a === self.col) return;
      var n = axis.labels.length, control, shown = el('span', { 'class': 'csw-pos' }, null);
      if (axis.role === 'named') {
        control = select(bar, axis.name, axis.labels.map(function (l, i) { return [i, l]; }), function () {
          self.index[a] = +this.value; self.draw();
        });
      } else {
        control = el('input', { type: 'range', min: 0, max: n - 1, value: self.index[a] }, null);
        control.addEventListener('input', function () { self.index[a] = +this.value; self.draw(); });
        labelled(bar, axis.name, control);
        bar.appendChild(shown);
      }
      control.setAttribute('data-role', 'axis-' + axis.name);
      self.sliders.push({ axis: a, shown: shown });
    });
    this.note = el('div', { 'class': 'csw-note' }, this.root);
    this.plot = el('div', { 'class': 'csw-plot' }, this.root);
    this.draw();
  };

  Heatmap.prototype.draw = function () {
    var self = this, d = this.d, values = this.values(), limit = this.limit(), shown = this.shown();
    this.sliders.forEach(function (s) {
      s.shown.textContent = self.axisLabels(s.axis)[self.index[s.axis]];
    });
    var whose = this.prompt >= 0 ? 'prompt ' + d.prompts[this.prompt] :
      shown.tokens ? d.value_owner.replace(/^mean/, 'most common') : d.value_owner;
    this.note.textContent = shown.label + ' (' + whose + '); ' + (shown.tokens ? 'token ids, shown as text' :
      'colour range ' + (shown.sequential ? '0 to ' + fmt(limit) : '\u00b1' + fmt(limit) + ', centred on 0')) +
      (this.prompt < 0 ? '' : '; hover for the mean too') + (d.prompts_note ? '; ' + d.prompts_note : '');
    var one = function (a, f) { return a < 0 ? f : null; };  // -1: a single row or column
    this.plot.innerHTML = '';
    drawGrid(this.plot, {
      rows: one(this.row, 1) || d.axes[this.row].labels.length,
      cols: one(this.col, 1) || d.axes[this.col].labels.length,
      rowLabels: one(this.row, ['']) || this.axisLabels(this.row),
      colLabels: one(this.col, ['']) || this.axisLabels(this.col),
      rowTitle: this.row < 0 ? '' : this.axisTitle(this.row),
      colTitle: this.col < 0 ? '' : this.axisTitle(this.col),
      sequential: shown.sequential, limit: limit, valueLabel: shown.label,
      t: function (r, c) {
        var v = values[self.cell(r, c)];
        return v === null ? NaN : v / limit;
      },
      text: shown.tokens ? function (r, c) {
        var v = values[self.cell(r, c)], t = (d.token_text || {})[String(v)];
        return t !== undefined ? t : v === null ? '' : String(v);
      } : null,
      tip: function (r, c) { return self.tip(self.cell(r, c)); }
    });
  };

  Heatmap.prototype.axisTitle = function (a) {
    var axis = this.d.axes[a];
    if (axis.prompt_labels && this.prompt >= 0)
      return axis.name + ' (tokens of prompt ' + this.d.prompts[this.prompt] + ')';
    return axis.title;
  };

  Heatmap.prototype.tip = function (k) {
    var d = this.d, self = this, where = [];
    d.axes.forEach(function (axis, a) {
      var i = Math.floor(k / self.stride[a]) % axis.labels.length;
      where.push(axis.name + ' ' + self.axisLabels(a)[i]);
    });
    var shown = this.shown(), show = shown.tokens ? this.token.bind(this) : fmt;
    var lines = [['', where.join(' \u00b7 '), 'cell']];
    var over = shown.tokens ? 'most common ' : this.view === 'mean' ? 'mean ' : '';
    if (this.prompt >= 0) {
      lines.push(['prompt ' + d.prompts[this.prompt] + ': ' + shown.label, show(this.values()[k]), 'value']);
      lines.push([over + shown.label + ' over prompts', show(d.stats[this.view][k]), 'mean']);
    } else {
      lines.push([over + shown.label, show(d.stats[this.view][k]), 'value']);
    }
    if (this.view !== 'mean') lines.push(['mean ' + d.value_label, fmt(d.stats.mean[k]), 'mean-value']);
    if (!shown.tokens) lines.push(['sem of the mean', fmt(d.stats.sem[k]), 'sem']);
    lines.push(['n (prompts done)', String(d.stats.n[k]), 'n']);
    var fraction = d.views.filter(function (v) { return v.key === 'fraction'; })[0];
    if (this.view !== 'fraction' && fraction)
      lines.push([fraction.label, fmt(d.stats.fraction[k]), 'fraction']);
    return lines;
  };

  // ---- attention patterns of the top heads (one prompt, tokens on both axes) -------------

  function Patterns(root, d) {
    var self = this;
    this.d = d;
    var bar = el('div', { 'class': 'csw-controls' }, root);
    select(bar, 'head', d.heads.map(function (h, i) { return [i, h.label]; }), function () {
      self.draw(+this.value);
    }).setAttribute('data-role', 'head');
    this.note = el('div', { 'class': 'csw-note' }, root);
    this.plot = el('div', { 'class': 'csw-plot' }, root);
    this.draw(0);
  }

  Patterns.prototype.draw = function (h) {
    var d = this.d, head = d.heads[h], n = d.tokens.length;
    var labels = d.tokens.map(function (t, i) { return i + ':' + t; });
    this.note.textContent = head.label + ' on prompt ' + d.prompt + ' (' + head.why +
      '): attention from each query token (row) to each key token (column); colour range 0 to 1';
    this.plot.innerHTML = '';
    drawGrid(this.plot, {
      rows: n, cols: n, rowLabels: labels, colLabels: labels,
      rowTitle: 'query (destination) token', colTitle: 'key (source) token',
      sequential: true, limit: 1, valueLabel: 'attention', square: true,
      t: function (r, c) { return head.pattern[r * n + c]; },
      tip: function (r, c) {
        return [['', 'query ' + labels[r] + ' \u2192 key ' + labels[c], 'cell'],
                ['attention', fmt(head.pattern[r * n + c]), 'value']];
      }
    });
  };

  function init() {
    var make = { 'csw-heatmap': Heatmap, 'csw-patterns': Patterns };
    Object.keys(make).forEach(function (cls) {
      Array.prototype.forEach.call(document.getElementsByClassName(cls), function (root) {
        var data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
        var view = el('div', { 'class': 'csw-view' }, root);
        new make[cls](view, data);
      });
    });
    document.body.setAttribute('data-csw-ready', '1');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
