/* cnnatlas explain page, part 1 of 4: numbers. No DOM work except canvases and a tiny element
   builder. Everything here works on the real weights and activations that the build wrote to
   data/explain/*.js (window.CNNATLAS_EXPLAIN); see cnnatlas/explaindata.py for the format.

   A tensor is {shape: [h, w, c] or [n], data: Float32Array in C order}, like the NumPy arrays
   of the build. Sums are accumulated in float64 (JavaScript numbers): the result differs from
   the build's float32 result only in the last digits. */
(function () {
  "use strict";
  var X = (window.CnnExplain = window.CnnExplain || {});

  // ---- tensors ------------------------------------------------------------------------------
  function decode(packed) {  // {"shape", "f32": base64 little-endian float32} -> tensor
    var bin = atob(packed.f32), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var view = new DataView(bytes.buffer), n = bytes.length / 4, out = new Float32Array(n);
    for (var j = 0; j < n; j++) out[j] = view.getFloat32(4 * j, true);
    return { shape: packed.shape.slice(), data: out };
  }
  function at(t, i, j, c) { return t.data[(i * t.shape[1] + j) * t.shape[2] + c]; }
  function channel(t, c) {  // one (h, w) map of an (h, w, C) tensor
    var h = t.shape[0], w = t.shape[1], out = new Float32Array(h * w);
    for (var p = 0; p < h * w; p++) out[p] = t.data[p * t.shape[2] + c];
    return { shape: [h, w], data: out };
  }
  function relu(t) {  // exact: max(0, x) of a float32 is that float32 or 0
    var out = new Float32Array(t.data.length);
    for (var i = 0; i < out.length; i++) out[i] = t.data[i] > 0 ? t.data[i] : 0;
    return { shape: t.shape.slice(), data: out };
  }
  function pool2(t) {  // 2×2 max-pool, stride 2, odd edges dropped (models/base.py max_pool_2x2)
    var h = Math.floor(t.shape[0] / 2), w = Math.floor(t.shape[1] / 2), c = t.shape[2];
    var out = new Float32Array(h * w * c);
    for (var i = 0; i < h; i++) for (var j = 0; j < w; j++) for (var k = 0; k < c; k++) {
      out[(i * w + j) * c + k] = Math.max(at(t, 2 * i, 2 * j, k), at(t, 2 * i, 2 * j + 1, k),
                                          at(t, 2 * i + 1, 2 * j, k), at(t, 2 * i + 1, 2 * j + 1, k));
    }
    return { shape: [h, w, c], data: out };
  }
  function flatten(t) { return { shape: [t.data.length], data: t.data }; }

  /* Every stage of one sample: stored stages (conv, dense) are decoded, the others recomputed
     from them (ReLU, pooling and flatten are exact). Cached on the sample object. */
  function tensors(model, sample) {
    if (sample._t) return sample._t;
    var out = { input: decode(sample.input) };
    model.stages.forEach(function (st) {
      var prev = out[st.from];
      if (sample.stages[st.name]) out[st.name] = decode(sample.stages[st.name]);
      else if (st.kind === "relu") out[st.name] = relu(prev);
      else if (st.kind === "pool") out[st.name] = pool2(prev);
      else if (st.kind === "flatten") out[st.name] = flatten(prev);
      else throw new Error("explain: no data for stage " + st.name);
    });
    out.probs = decode(sample.probs);
    sample._t = out;
    return out;
  }

  // ---- the operations, step by step ----------------------------------------------------------
  /* One output cell of a convolution: out[i, j, k] = Σ_c Σ_u,v w[u, v, c, k] · x[i·s + u − pad,
     j·s + v − pad, c] + b[k]. Returns the per-channel window, weights, products and sums. */
  function convCell(x, st, kernel, bias, i, j, k) {
    var kh = kernel.shape[0], kw = kernel.shape[1], cin = kernel.shape[2], cout = kernel.shape[3];
    var rows = [], total = 0;
    for (var c = 0; c < cin; c++) {
      var win = [], wts = [], prods = [], pad = [], sum = 0;
      for (var u = 0; u < kh; u++) for (var v = 0; v < kw; v++) {
        var ii = i * st.stride[0] + u - st.pad[0], jj = j * st.stride[1] + v - st.pad[1];
        var inside = ii >= 0 && jj >= 0 && ii < x.shape[0] && jj < x.shape[1];
        var xv = inside ? at(x, ii, jj, c) : 0;
        var wv = kernel.data[((u * kw + v) * cin + c) * cout + k];
        win.push(xv); wts.push(wv); prods.push(xv * wv); pad.push(!inside);
        sum += xv * wv;
      }
      rows.push({ c: c, window: win, weights: wts, products: prods, padding: pad, sum: sum });
      total += sum;
    }
    var b = bias.data[k];
    return { rows: rows, bias: b, total: total + b, kh: kh, kw: kw };
  }

  /* Dense layer: logits[n] = Σ_d x[d] · W[d, n] + b[n]; `terms[d][n]` = x[d] · W[d, n]. */
  function dense(x, kernel, bias) {
    var d = kernel.shape[0], n = kernel.shape[1], logits = [], terms = [];
    for (var q = 0; q < n; q++) logits.push(bias.data[q]);
    for (var p = 0; p < d; p++) {
      var row = [];
      for (var r = 0; r < n; r++) {
        var t = x.data[p] * kernel.data[p * n + r];
        row.push(t);
        logits[r] += t;
      }
      terms.push(row);
    }
    return { logits: logits, terms: terms };
  }

  function softmax(z) {  // shifted by max(z) for stability, as jax.nn.softmax does
    var m = Math.max.apply(null, z), exps = z.map(function (v) { return Math.exp(v - m); });
    var sum = exps.reduce(function (a, b) { return a + b; }, 0);
    return { max: m, exps: exps, sum: sum, probs: exps.map(function (e) { return e / sum; }) };
  }

  // ---- colour ---------------------------------------------------------------------------------
  var luts = {};
  function lut(model, name) {  // 256 RGB entries from images.py, as hex
    if (!luts[name]) {
      var hex = model.luts[name], a = new Uint8Array(hex.length / 2);
      for (var i = 0; i < a.length; i++) a[i] = parseInt(hex.substr(2 * i, 2), 16);
      luts[name] = a;
    }
    return luts[name];
  }
  function range(data, signed) {  // as images.value_range: symmetric around 0 when signed
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < data.length; i++) { if (data[i] < lo) lo = data[i]; if (data[i] > hi) hi = data[i]; }
    if (!data.length) return [0, 0];
    if (signed) { var m = Math.max(Math.abs(lo), Math.abs(hi)); return [-m, m]; }
    return [lo, hi];
  }
  function index(v, lo, hi, signed) {  // 0..255 as images.to_index; a flat signed map is white
    if (hi - lo <= 0) return signed ? 128 : 0;
    return Math.max(0, Math.min(255, Math.round((v - lo) / (hi - lo) * 255)));
  }
  function colour(model, v, lo, hi, signed) {
    var t = lut(model, signed ? "diverging" : "sequential"), q = 3 * index(v, lo, hi, signed);
    return "rgb(" + t[q] + "," + t[q + 1] + "," + t[q + 2] + ")";
  }
  /* Draw an (h, w) map into a canvas at native resolution (CSS scales it, pixelated).
     gray: a model input in [0, 1], drawn as the image itself. */
  function draw(model, canvas, map, lo, hi, signed, gray) {
    var h = map.shape[0], w = map.shape[1], t = lut(model, signed ? "diverging" : "sequential");
    canvas.width = w; canvas.height = h;
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
    for (var p = 0; p < h * w; p++) {
      if (gray) {
        var g = Math.max(0, Math.min(255, Math.round(map.data[p] * 255)));
        img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = g;
      } else {
        var q = 3 * index(map.data[p], lo, hi, signed);
        img.data[4 * p] = t[q]; img.data[4 * p + 1] = t[q + 1]; img.data[4 * p + 2] = t[q + 2];
      }
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function drawRGB(canvas, t) {  // an (h, w, 3) input in [0, 1] in its own colours (issue 13)
    var h = t.shape[0], w = t.shape[1];
    canvas.width = w; canvas.height = h;
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
    for (var p = 0; p < h * w; p++) {
      for (var c = 0; c < 3; c++) img.data[4 * p + c] = Math.max(0, Math.min(255, Math.round(t.data[3 * p + c] * 255)));
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function inkOn(r, g, b) {  // near-black or white, whichever contrasts more (WCAG luminance)
    var L = [r, g, b].map(function (c) { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
    var lum = 0.2126 * L[0] + 0.7152 * L[1] + 0.0722 * L[2];
    return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) ? "#000" : "#fff";
  }
  function textOn(model, v, lo, hi, signed) {  // readable text colour on a LUT colour
    var t = lut(model, signed ? "diverging" : "sequential"), q = 3 * index(v, lo, hi, signed);
    return inkOn(t[q], t[q + 1], t[q + 2]);
  }

  // ---- formatting and DOM ------------------------------------------------------------------
  function fmt(v, d) {  // fixed decimals, a real minus sign, "0" for exact zeros
    if (v === 0) return "0";
    var s = Math.abs(v) >= 1000 ? v.toExponential(2) : v.toFixed(d === undefined ? 3 : d);
    if (+s === 0) s = s.replace("-", "");  // rounds to zero: no sign (the title has the value)
    return s.replace("-", "\u2212");
  }
  function el(tag, attrs, children) {  // text goes in as text nodes: nothing is parsed as HTML
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "class") e.className = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) {
      if (c !== null && c !== undefined) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function argmax(a) { var b = 0; for (var i = 1; i < a.length; i++) if (a[i] > a[b]) b = i; return b; }
  function stage(model, name) {
    for (var i = 0; i < model.stages.length; i++) if (model.stages[i].name === name) return model.stages[i];
    return null;
  }
  function params(model, st) {  // decoded kernel and bias of a stage, cached
    if (!st._kernel) { st._kernel = decode(st.kernel); st._bias = decode(st.bias); }
    return { kernel: st._kernel, bias: st._bias };
  }

  X.core = {
    decode: decode, at: at, channel: channel, relu: relu, pool2: pool2, flatten: flatten,
    tensors: tensors, argmax: argmax, convCell: convCell, dense: dense, softmax: softmax, range: range,
    colour: colour, draw: draw, drawRGB: drawRGB, textOn: textOn, inkOn: inkOn, fmt: fmt, el: el, stage: stage, params: params
  };
})();
