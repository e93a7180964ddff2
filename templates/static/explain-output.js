/* cnnatlas explain page: flatten + dense + softmax (CNN Explainer's Softmaxview) with the real
   numbers: which pool units push towards which class, one logit as a sum of products, and the
   probabilities from exp and normalization. ctx = {model, st (the dense stage), k (a class), T}. */
(function () {
  "use strict";
  var X = window.CnnExplain, C = X.core, W = X.widgets, el = C.el, fmt = C.fmt;

  function output(ctx, onClass) {
    var model = ctx.model, st = ctx.st, cls = ctx.k, names = model.classes;
    var flat = C.stage(model, st.from), block = flat && flat.kind === "flatten" ? C.stage(model, flat.from) : null;
    var P = C.params(model, st), x = ctx.T[st.from], r = C.dense(x, P.kernel, P.bias);
    var stored = ctx.T[st.name].data, probs = ctx.T.probs.data, sm = C.softmax(r.logits);
    // Group the D products per source unit (the channel of the pooled block): units × classes.
    var K = block ? block.shape[2] : x.data.length, n = names.length, groups = [];
    for (var g = 0; g < K; g++) groups.push(new Array(n).fill(0));
    r.terms.forEach(function (row, d) { row.forEach(function (t, c) { groups[block ? d % K : d][c] += t; }); });
    var all = [].concat.apply([], groups), scale = W.sym(all.concat(P.bias.data.length ? Array.prototype.slice.call(P.bias.data) : []));
    var src = block ? block.name : st.from;

    function cell(v, extra) {
      return el("td", { class: "num " + (extra || ""), text: fmt(v, 3),
        style: "background:" + C.colour(model, v, scale.lo, scale.hi, true) + ";color:" + C.textOn(model, v, scale.lo, scale.hi, true) });
    }
    var head = el("tr", {}, [el("th", { scope: "col", text: src + " unit" })].concat(names.map(function (nm, c) {
      return el("th", { scope: "col", class: c === cls ? "sel" : "" }, [el("button", { type: "button", class: "linkish", text: nm,
        "aria-pressed": c === cls ? "true" : "false", onclick: function () { onClass(c); } })]);
    })));
    var body = groups.map(function (row, g) {
      return el("tr", {}, [el("th", { scope: "row", text: String(g) })].concat(row.map(function (v, c) { return cell(v, c === cls ? "sel" : ""); })));
    });
    body.push(el("tr", { class: "bias" }, [el("th", { scope: "row", text: "bias" })].concat(names.map(function (_, c) { return cell(P.bias.data[c], c === cls ? "sel" : ""); }))));
    body.push(el("tr", { class: "total" }, [el("th", { scope: "row", text: "= logit" })].concat(r.logits.map(function (z, c) {
      return el("td", { class: "num " + (c === cls ? "sel" : ""), text: fmt(z, 3) });
    }))));
    var contrib = el("div", { class: "scroll" }, [el("table", { class: "contrib" }, [
      el("caption", { text: "Sum of x · w over the " + (block ? block.shape[0] * block.shape[1] + " positions of each " + src + " unit" : "inputs") +
        ". Red pushes towards the class, blue away from it." }), el("thead", {}, [head]), el("tbody", {}, body)])]);

    // The chosen class: its largest terms, one by one.
    var terms = r.terms.map(function (row, d) { return { d: d, t: row[cls], x: x.data[d], w: P.kernel.data[d * n + cls] }; });
    terms.sort(function (a, b) { return Math.abs(b.t) - Math.abs(a.t) || a.d - b.d; });
    var top = terms.slice(0, 8), rest = terms.slice(8).reduce(function (a, q) { return a + q.t; }, 0);
    function where(d) {
      if (!block) return st.from + "[" + d + "]";
      var c = d % K, p = Math.floor(d / K), j = p % block.shape[1], i = Math.floor(p / block.shape[1]);
      return src + "[" + i + ", " + j + ", " + c + "] (flat " + d + ")";
    }
    var list = el("ol", { class: "terms" }, top.map(function (q) {
      return el("li", { text: where(q.d) + ": " + fmt(q.x, 4) + " × " + fmt(q.w, 4) + " = " + fmt(q.t, 4) });
    }));
    var restLine = el("p", { class: "small", text: "+ the other " + (terms.length - top.length) + " products, together " + fmt(rest, 4) +
      "; + bias " + fmt(P.bias.data[cls], 4) });
    var logitLine = el("p", { class: "result" }, ["logit of " + names[cls] + " = ", el("output", { id: "dense-computed", class: "big",
      "data-value": String(r.logits[cls]), text: fmt(r.logits[cls], 5) }), " computed here; stored: ",
      el("output", { id: "dense-stored", "data-value": String(stored[cls]), text: fmt(stored[cls], 5) })]);

    // Softmax.
    var srows = names.map(function (nm, c) {
      return el("tr", { class: c === cls ? "sel" : "" }, [el("th", { scope: "row", text: nm }),
        el("td", { class: "num", text: fmt(r.logits[c], 4) }), el("td", { class: "num", text: fmt(r.logits[c] - sm.max, 4) }),
        el("td", { class: "num", text: fmt(sm.exps[c], 5) }),
        el("td", { class: "num prob", "data-value": String(sm.probs[c]), text: (100 * sm.probs[c]).toFixed(3) + "%" }),
        el("td", { class: "num", text: (100 * probs[c]).toFixed(3) + "%" }),
        el("td", {}, [el("span", { class: "bar" }, [el("span", { style: "width:" + (100 * sm.probs[c]).toFixed(2) + "%" })])])]);
    });
    srows.push(el("tr", { class: "total" }, [el("th", { scope: "row", text: "Σ" }), el("td"), el("td"),
      el("td", { class: "num", text: fmt(sm.sum, 5) }), el("td", { class: "num", text: "100%" }), el("td"), el("td")]));
    var soft = el("div", { class: "scroll" }, [el("table", { class: "softmax" }, [
      el("caption", { text: "softmax: p = exp(z − max z) / Σ exp(z − max z); subtracting max z = " + fmt(sm.max, 4) + " changes nothing but keeps exp() from overflowing." }),
      el("thead", {}, [el("tr", {}, ["class", "logit z", "z − max", "exp(z − max)", "p (computed)", "p (stored)", ""].map(function (t) {
        return el("th", { scope: "col", text: t });
      }))]), el("tbody", {}, srows)])]);

    var elx = el("div", { class: "dv dv-output" }, [
      el("p", { class: "lede", text: (block ? "flatten lays " + src + " (" + block.shape.join("×") + ") out as " + x.data.length +
        " numbers, row by row with the channel fastest. " : "") + "The dense layer gives every class a logit: the sum of " + x.data.length +
        " products input × weight, plus a bias. Softmax turns the logits into probabilities." }),
      el("h3", { text: "Which " + src + " units push towards which class" }), contrib,
      el("h3", { text: "The logit of " + names[cls] + ", term by term" }), list, restLine, logitLine,
      el("h3", { text: "From logits to probabilities" }), soft
    ]);
    return { el: elx, stop: function () {}, focus: null, groups: groups };
  }

  /* Per source unit, the contribution to class c (for the overview's edges). */
  function contributions(model, T, c) {
    var st = model.stages[model.stages.length - 1];
    var flat = C.stage(model, st.from), block = flat && flat.kind === "flatten" ? C.stage(model, flat.from) : null;
    if (!block) return null;
    var P = C.params(model, st), x = T[st.from], K = block.shape[2], n = model.classes.length, out = new Array(K).fill(0);
    for (var d = 0; d < x.data.length; d++) out[d % K] += x.data[d] * P.kernel.data[d * n + c];
    return { source: block.name, values: out };
  }

  X.views.output = output;
  X.views.contributions = contributions;
})();
