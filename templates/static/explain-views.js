/* cnnatlas explain page, part 3 of 4: the detail views, one per stage kind (CNN Explainer's
   Convolutionview, Activationview, Poolview, Softmaxview), with this model's real numbers.
   Each view(ctx) returns {el, stop}; ctx = {model, st (stage), k (unit), T (all tensors)}. */
(function () {
  "use strict";
  var X = window.CnnExplain, C = X.core, W = X.widgets, el = C.el, fmt = C.fmt;

  function scaleOf(ctx, name) {  // the overview's scale of a stage, for this sample
    var st = C.stage(ctx.model, name), t = ctx.T[name];
    if (!st) return { lo: 0, hi: 1, signed: false, gray: true };
    var r = C.range(t.data, st.signed);
    return { lo: r[0], hi: r[1], signed: st.signed, gray: false };
  }
  function px(n) { return Math.max(3, Math.min(12, Math.floor(240 / n))); }  // CSS px per cell
  function opts(s, caption, extra) {
    var o = { lo: s.lo, hi: s.hi, signed: s.signed, gray: s.gray, caption: caption };
    Object.keys(extra || {}).forEach(function (k) { o[k] = extra[k]; });
    return o;
  }

  // ---- convolution ----------------------------------------------------------------------------
  function conv(ctx) {
    var st = ctx.st, k = ctx.k, x = ctx.T[st.from], out = C.channel(ctx.T[st.name], k);
    var P = C.params(ctx.model, st), cin = x.shape[2], kh = P.kernel.shape[0], kw = P.kernel.shape[1];
    var sx = scaleOf(ctx, st.from), so = scaleOf(ctx, st.name);
    var kscale = W.sym(Array.prototype.slice.call(P.kernel.data).filter(function (_, q) { return q % P.kernel.shape[3] === k; }));
    var outFig = W.mapFigure(ctx.model, out, px(out.shape[0]) * 1.2, opts(so, st.name + " unit " + k + " (" + out.shape[0] + "×" + out.shape[1] + ")", {
      label: "output map", onPick: function (i, j) { step.stop(); step.set(i, j); } }));
    var rows = [], partials = el("ol", { class: "partials" });
    for (var c = 0; c < cin; c++) {
      var fig = W.mapFigure(ctx.model, C.channel(x, c), Math.max(2, px(x.shape[0]) * 0.55 | 0), opts(sx, (st.from === "input" ? "input" : st.from + " unit " + c)));
      var tw = W.numTable(ctx.model, kh, kw, "input window"), tk = W.numTable(ctx.model, kh, kw, "kernel"), tp = W.numTable(ctx.model, kh, kw, "products");
      var sum = el("output", { class: "psum" });
      rows.push({ fig: fig, tw: tw, tk: tk, tp: tp, sum: sum, chip: el("li") });
      partials.appendChild(rows[c].chip);
    }
    var computed = el("output", { id: "conv-computed", class: "big" }), stored = el("output", { id: "conv-stored", class: "big" });
    var diff = el("span", { class: "small" });
    var bias = el("output", { class: "psum" });
    var rowBox = el("div", { class: "conv-rows" }, rows.map(function (r, c) {
      return el("div", { class: "conv-row" }, [r.fig.el, el("div", { class: "conv-math" }, [
        el("span", { class: "conv-ch", text: "channel " + c }), r.tw.el, el("span", { class: "op", text: "×" }), r.tk.el,
        el("span", { class: "op", text: "=" }), r.tp.el, el("span", { class: "op", text: "Σ" }), r.sum])]);
    }));
    var eq = el("div", { class: "conv-eq" }, [
      el("p", { text: "Sum over the " + cin + " input channel" + (cin > 1 ? "s" : "") + " (one 3×3 sum each), plus the unit's bias:" }),
      partials,
      el("p", {}, ["+ bias ", bias]),
      el("p", { class: "result" }, ["= ", computed, " computed here"]),
      el("p", { class: "result" }, ["stored activation: ", stored, " ", diff])
    ]);
    function update(i, j) {
      var r = C.convCell(x, st, P.kernel, P.bias, i, j, k);
      var pscale = W.sym([].concat.apply([], r.rows.map(function (q) { return q.products; })));
      r.rows.forEach(function (q, c) {
        var R = rows[c];
        R.fig.box(i * st.stride[0] - st.pad[0], j * st.stride[1] - st.pad[1], kh, kw);
        R.tw.set(q.window, sx, q.padding.map(function (p) { return p ? "pad" : ""; }));
        R.tk.set(q.weights, kscale);
        R.tp.set(q.products, pscale);
        R.sum.textContent = fmt(q.sum, 4);
        R.chip.textContent = (c ? (q.sum < 0 ? "− " : "+ ") + fmt(Math.abs(q.sum), 4) : fmt(q.sum, 4));
        R.chip.style.borderColor = C.colour(ctx.model, q.sum, pscale.lo * 3, pscale.hi * 3, true);
      });
      var s = C.at(ctx.T[st.name], i, j, k);
      bias.textContent = fmt(r.bias, 4);
      computed.textContent = fmt(r.total, 5);
      computed.setAttribute("data-value", String(r.total));
      computed.setAttribute("data-cell", i + "," + j);
      stored.textContent = fmt(s, 5);
      stored.setAttribute("data-value", String(s));
      var d = Math.abs(r.total - s);
      diff.textContent = (d < 1e-4 ? "✓ equal" : "✗ differs") + " (difference " + d.toExponential(1) + ", float32 rounding)";
      outFig.box(i, j, 1, 1);
      outFig.cell(i, j);
    }
    var step = W.stepper(out.shape[0], out.shape[1], update, "output cell");
    var best = C.argmax(out.data);  // start where the unit responds most
    var lede = el("p", { class: "lede", text: "Unit " + k + " of " + st.name + " slides one " + kh + "×" + kw + " kernel per input channel over " +
      (st.from === "input" ? "the input image" : "the " + cin + " maps of " + st.from) + " (stride " + st.stride[0] + ", padding " + st.pad[0] +
      "). At each position it multiplies the window by the kernel, adds everything up over all channels and adds a bias. Pick a cell in the output map, step, or play." });
    var elx = el("div", { class: "dv dv-conv" }, [lede, step.el, el("div", { class: "conv-top" }, [outFig.el, eq]), rowBox]);
    step.set(Math.floor(best / out.shape[1]), best % out.shape[1]);
    return { el: elx, stop: step.stop, focus: outFig.frame };
  }

  // ---- ReLU --------------------------------------------------------------------------------
  function relu(ctx) {
    var st = ctx.st, k = ctx.k, a = C.channel(ctx.T[st.from], k), b = C.channel(ctx.T[st.name], k);
    var sa = scaleOf(ctx, st.from), sb = scaleOf(ctx, st.name), n = 5, h = a.shape[0], w = a.shape[1];
    var pick = function (i, j) { step.stop(); step.set(i, j); };
    var fa = W.mapFigure(ctx.model, a, px(h), opts(sa, st.from + " unit " + k + " (before)", { label: "map before ReLU", onPick: pick }));
    var fb = W.mapFigure(ctx.model, b, px(h), opts(sb, st.name + " unit " + k + " (after)"));
    var ta = W.numTable(ctx.model, n, n, "before: " + st.from), tb = W.numTable(ctx.model, n, n, "after: " + st.name);
    var formula = el("p", { class: "formula" });
    function update(i, j) {
      var i0 = Math.max(0, Math.min(h - n, i - 2)), j0 = Math.max(0, Math.min(w - n, j - 2)), va = [], vb = [], fl = [];
      for (var u = 0; u < n; u++) for (var v = 0; v < n; v++) {
        va.push(a.data[(i0 + u) * w + j0 + v]); vb.push(b.data[(i0 + u) * w + j0 + v]);
        fl.push(i0 + u === i && j0 + v === j ? "max" : "");
      }
      ta.set(va, sa, fl); tb.set(vb, sb, fl);
      fa.box(i, j, 1, 1); fb.box(i, j, 1, 1); fa.cell(i, j);
      var x = a.data[i * w + j];
      formula.textContent = "max(0, " + fmt(x, 4) + ") = " + fmt(Math.max(0, x), 4) + (x > 0 ? "  (positive: passes unchanged)" : "  (negative: set to 0)");
    }
    var step = W.stepper(h, w, update, "cell");
    var lede = el("p", { class: "lede", text: "ReLU works on each number alone: negative values become 0, positive values pass unchanged. " +
      st.name + "[i, j, " + k + "] = max(0, " + st.from + "[i, j, " + k + "]). The tables show the 5×5 neighbourhood of the chosen cell." });
    var elx = el("div", { class: "dv dv-relu" }, [lede, step.el, formula,
      el("div", { class: "pair" }, [fa.el, el("span", { class: "op big", text: "→" }), fb.el]),
      el("div", { class: "pair" }, [ta.el, el("span", { class: "op big", text: "→" }), tb.el])]);
    step.set(h >> 1, w >> 1);
    return { el: elx, stop: step.stop, focus: fa.frame };
  }

  // ---- max-pooling ---------------------------------------------------------------------------
  function pool(ctx) {
    var st = ctx.st, k = ctx.k, a = C.channel(ctx.T[st.from], k), b = C.channel(ctx.T[st.name], k);
    var sa = scaleOf(ctx, st.from), sb = scaleOf(ctx, st.name), h = b.shape[0], w = b.shape[1], wa = a.shape[1];
    var pick = function (i, j) { step.stop(); step.set(i, j); };
    var fa = W.mapFigure(ctx.model, a, px(a.shape[0]), opts(sa, st.from + " unit " + k + " (" + a.shape[0] + "×" + a.shape[1] + ")"));
    var fb = W.mapFigure(ctx.model, b, px(a.shape[0]) * 2, opts(sb, st.name + " unit " + k + " (" + h + "×" + w + ")", { label: "pooled map", onPick: pick }));
    var t = W.numTable(ctx.model, 2, 2, "2×2 window"), formula = el("p", { class: "formula" });
    function update(i, j) {
      var v = [a.data[2 * i * wa + 2 * j], a.data[2 * i * wa + 2 * j + 1], a.data[(2 * i + 1) * wa + 2 * j], a.data[(2 * i + 1) * wa + 2 * j + 1]];
      var m = Math.max.apply(null, v), q = v.indexOf(m);
      t.set(v, sa, v.map(function (_, r) { return r === q ? "max" : ""; }));
      fa.box(2 * i, 2 * j, 2, 2); fb.box(i, j, 1, 1); fb.cell(i, j);
      formula.textContent = "max(" + v.map(function (z) { return fmt(z, 4); }).join(", ") + ") = " + fmt(m, 4) + " = " + st.name + "[" + i + ", " + j + ", " + k + "]";
    }
    var step = W.stepper(h, w, update, "pooled cell");
    var lede = el("p", { class: "lede", text: "Max-pooling keeps the largest value of each 2×2 window, moving 2 cells at a time, so " + st.from + " (" +
      a.shape[0] + "×" + a.shape[1] + ") shrinks to " + h + "×" + w + ". The maximum is marked; the other three values are dropped." });
    var elx = el("div", { class: "dv dv-pool" }, [lede, step.el, formula,
      el("div", { class: "pair" }, [fa.el, el("span", { class: "op big", text: "→" }), t.el, el("span", { class: "op big", text: "→" }), fb.el])]);
    var best = C.argmax(b.data);
    step.set(Math.floor(best / w), best % w);
    return { el: elx, stop: step.stop, focus: fb.frame };
  }

  X.views = { conv: conv, relu: relu, pool: pool };
})();
