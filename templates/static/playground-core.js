/* cnnatlas playground (issue 11), part 1 of 2: the network in the page. No DOM work.

   A tensor is {shape: [h, w, c] or [n], data: Float32Array in C order (channels last)}, like
   the build's NumPy arrays. Sums are accumulated in float64 and stored as float32, so results
   differ from JAX's float32 ones only in the last digits (the browser test allows 1e-4).

   Supported: the stage kinds conv (any kernel, stride and padding; no dilation or groups),
   relu, pool (2×2 max, stride 2), flatten and dense, ending in dense logits. check() names
   anything else, and the page shows that message instead of running a different model.
   Data: window.CNNATLAS_PLAYGROUND (see cnnatlas/playground.py). */
(function () {
  "use strict";
  var P = (window.CnnPlayground = window.CnnPlayground || {});
  var OPS = { relu: "relu", pool: "max_pool_2x2", flatten: "flatten" };  // kind -> known op
  var EPS32 = 1.1920928955078125e-7;

  // ---- data ---------------------------------------------------------------------------------
  function bytes(b64) {
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  /* {"shape", "f32": base64 float32 LE} or {"shape", "u8": base64 bytes = value × 255}. */
  function decode(packed) {
    var n = packed.shape.reduce(function (a, b) { return a * b; }, 1);
    var out = new Float32Array(n), raw;
    if (packed.u8 !== undefined) {
      raw = bytes(packed.u8);
      for (var i = 0; i < n; i++) out[i] = raw[i] / 255;  // == float32(k / 255), as NumPy does
    } else {
      raw = new DataView(bytes(packed.f32).buffer);
      for (var j = 0; j < n; j++) out[j] = raw.getFloat32(4 * j, true);
    }
    return { shape: packed.shape.slice(), data: out };
  }
  function size(shape) { return shape.reduce(function (a, b) { return a * b; }, 1); }

  /* null when the page can run this model, else a sentence saying why not. */
  function check(raw) {
    if (!raw || !raw.stages || !raw.stages.length) return "the build wrote no model data";
    var prev = raw.input;
    for (var i = 0; i < raw.stages.length; i++) {
      var st = raw.stages[i], what = "stage " + st.name + " (kind '" + st.kind + "')";
      if (st.kind === "conv") {
        if (!st.kernel || st.kernel.shape.length !== 4) return what + " has no 4-D kernel";
        if (st.padding) return what + " uses " + st.padding + " padding";
        if ((st.groups || 1) !== 1) return what + " uses grouped convolution";
        if (st.dilation && (st.dilation[0] !== 1 || st.dilation[1] !== 1)) return what + " is dilated";
        if (prev.length !== 3 || st.kernel.shape[2] !== prev[2]) return what + " does not fit its input";
      } else if (st.kind === "dense") {
        if (!st.kernel || prev.length !== 1 || st.kernel.shape[0] !== prev[0]) return what + " does not fit its input";
      } else if (OPS[st.kind] === undefined) {
        return what + ": the in-page network knows only conv, relu, pool, flatten and dense";
      } else if (st.op !== OPS[st.kind]) {
        return what + " computes '" + st.op + "', not " + OPS[st.kind];
      }
      prev = st.shape;
    }
    if (raw.stages[raw.stages.length - 1].kind !== "dense") return "the last stage is not a dense layer of logits";
    return null;
  }

  /* The model with its arrays decoded; throws Error(check's message) if unsupported. */
  function load(raw) {
    var why = check(raw);
    if (why) throw new Error(why);
    var stages = raw.stages.map(function (st, i) {
      var s = Object.assign({}, st, { index: i });
      if (st.kernel) s.kernel = decode(st.kernel);
      s.bias = st.bias ? decode(st.bias) : null;
      return s;
    });
    var luts = {};
    Object.keys(raw.luts || {}).forEach(function (k) {
      var hex = raw.luts[k], a = new Uint8Array(hex.length / 2);
      for (var i = 0; i < a.length; i++) a[i] = parseInt(hex.substr(2 * i, 2), 16);
      luts[k] = a;
    });
    return { name: raw.name, input: raw.input.slice(), classes: raw.classes.slice(), stages: stages, luts: luts };
  }

  // ---- forward ------------------------------------------------------------------------------
  function conv(st, a) {  // out[i,j,k] = b[k] + Σ_u,v,c w[u,v,c,k] · a[i·s+u−pad, j·s+v−pad, c]
    var H = a.shape[0], W = a.shape[1], C = a.shape[2], x = a.data;
    var oh = st.shape[0], ow = st.shape[1], K = st.shape[2], w = st.kernel.data;
    var kh = st.kernel.shape[0], kw = st.kernel.shape[1];
    var out = new Float32Array(oh * ow * K), acc = new Float64Array(K);
    for (var i = 0; i < oh; i++) for (var j = 0; j < ow; j++) {
      for (var k = 0; k < K; k++) acc[k] = st.bias ? st.bias.data[k] : 0;
      for (var u = 0; u < kh; u++) {
        var ii = i * st.stride[0] + u - st.pad[0];
        if (ii < 0 || ii >= H) continue;
        for (var v = 0; v < kw; v++) {
          var jj = j * st.stride[1] + v - st.pad[1];
          if (jj < 0 || jj >= W) continue;
          var xo = (ii * W + jj) * C, wo = (u * kw + v) * C * K;
          for (var c = 0; c < C; c++) {
            var xv = x[xo + c];
            if (xv === 0) continue;
            for (var k2 = 0, wr = wo + c * K; k2 < K; k2++) acc[k2] += xv * w[wr + k2];
          }
        }
      }
      for (var k3 = 0, o = (i * ow + j) * K; k3 < K; k3++) out[o + k3] = acc[k3];
    }
    return { shape: st.shape.slice(), data: out };
  }
  function relu(st, a) {
    var out = new Float32Array(a.data.length);
    for (var i = 0; i < out.length; i++) out[i] = a.data[i] > 0 ? a.data[i] : 0;
    return { shape: a.shape.slice(), data: out };
  }
  function pool(st, a) {  // 2×2 max, stride 2, odd edges dropped (models/base.py max_pool_2x2)
    var W = a.shape[1], C = a.shape[2], h = st.shape[0], w = st.shape[1], x = a.data;
    var out = new Float32Array(h * w * C);
    for (var i = 0; i < h; i++) for (var j = 0; j < w; j++) for (var c = 0; c < C; c++) {
      var p = (2 * i * W + 2 * j) * C + c, q = p + W * C;
      out[(i * w + j) * C + c] = Math.max(x[p], x[p + C], x[q], x[q + C]);
    }
    return { shape: st.shape.slice(), data: out };
  }
  function flatten(st, a) { return { shape: [a.data.length], data: a.data }; }
  function dense(st, a) {  // out[c] = b[c] + Σ_d a[d] · w[d, c]
    var D = a.data.length, C = st.shape[0], w = st.kernel.data, out = new Float32Array(C);
    for (var c = 0; c < C; c++) {
      var s = st.bias ? st.bias.data[c] : 0;
      for (var d = 0; d < D; d++) s += a.data[d] * w[d * C + c];
      out[c] = s;
    }
    return { shape: [C], data: out };
  }
  var FORWARD = { conv: conv, relu: relu, pool: pool, flatten: flatten, dense: dense };

  function softmax(logits) {
    var m = -Infinity, s = 0, out = new Float32Array(logits.length);
    for (var i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
    var e = Array.prototype.map.call(logits, function (v) { return Math.exp(v - m); });
    e.forEach(function (v) { s += v; });
    for (var j = 0; j < out.length; j++) out[j] = e[j] / s;
    return out;
  }

  /* Every stage's output for one input x (tensor of model.input shape): {outs: [...], probs}. */
  function forward(model, x) {
    var outs = [], a = x;
    model.stages.forEach(function (st) { a = FORWARD[st.kind](st, a); outs.push(a); });
    return { outs: outs, probs: softmax(a.data) };
  }

  // ---- backward (vector-Jacobian products, as jax.grad computes them) -----------------------
  function backConv(st, a, out, g) {  // the transpose of conv: scatter each output's gradient
    var W = a.shape[1], C = a.shape[2], H = a.shape[0];
    var oh = st.shape[0], ow = st.shape[1], K = st.shape[2], w = st.kernel.data;
    var kh = st.kernel.shape[0], kw = st.kernel.shape[1], gin = new Float64Array(H * W * C);
    for (var i = 0; i < oh; i++) for (var j = 0; j < ow; j++) {
      var go = (i * ow + j) * K;
      for (var u = 0; u < kh; u++) {
        var ii = i * st.stride[0] + u - st.pad[0];
        if (ii < 0 || ii >= H) continue;
        for (var v = 0; v < kw; v++) {
          var jj = j * st.stride[1] + v - st.pad[1];
          if (jj < 0 || jj >= W) continue;
          var xo = (ii * W + jj) * C, wo = (u * kw + v) * C * K;
          for (var c = 0; c < C; c++) {
            var s = 0;
            for (var k = 0, wr = wo + c * K; k < K; k++) s += w[wr + k] * g[go + k];
            gin[xo + c] += s;
          }
        }
      }
    }
    return gin;
  }
  function backRelu(st, a, out, g) {  // jax.nn.relu: gradient 0 at 0
    var gin = new Float64Array(g.length);
    for (var i = 0; i < g.length; i++) gin[i] = a.data[i] > 0 ? g[i] : 0;
    return gin;
  }
  function backPool(st, a, out, g) {  // jnp.max splits the gradient equally between ties
    var W = a.shape[1], C = a.shape[2], h = st.shape[0], w = st.shape[1], x = a.data;
    var gin = new Float64Array(x.length);
    for (var i = 0; i < h; i++) for (var j = 0; j < w; j++) for (var c = 0; c < C; c++) {
      var o = (i * w + j) * C + c, m = out.data[o], p = (2 * i * W + 2 * j) * C + c, q = p + W * C;
      var at = [p, p + C, q, q + C].filter(function (idx) { return x[idx] === m; });
      at.forEach(function (idx) { gin[idx] += g[o] / at.length; });
    }
    return gin;
  }
  function backFlatten(st, a, out, g) { return g; }
  function backDense(st, a, out, g) {
    var D = a.data.length, C = st.shape[0], w = st.kernel.data, gin = new Float64Array(D);
    for (var d = 0; d < D; d++) {
      var s = 0;
      for (var c = 0; c < C; c++) s += w[d * C + c] * g[c];
      gin[d] = s;
    }
    return gin;
  }
  var BACKWARD = { conv: backConv, relu: backRelu, pool: backPool, flatten: backFlatten, dense: backDense };

  /* d logits[target] / d (output of stage `index`), as a Float64Array of that output's size. */
  function gradient(model, x, run, index, target) {
    var n = model.stages.length, g = new Float64Array(model.stages[n - 1].shape[0]);
    g[target] = 1;
    for (var s = n - 1; s > index; s--) {
      g = BACKWARD[model.stages[s].kind](model.stages[s], s > 0 ? run.outs[s - 1] : x, run.outs[s], g);
    }
    return g;
  }

  /* Weights (N × n, row-major) of jax.image.resize(..., "linear") along one axis: half-pixel
     centres, triangle kernel (widened when shrinking: antialias), normalized by its sum, so
     the edges repeat the border value. */
  function resizeWeights(n, N) {
    var inv = n / N, ks = Math.max(inv, 1), wts = new Float64Array(N * n);
    for (var o = 0; o < N; o++) {
      var f = (o + 0.5) * inv - 0.5, sum = 0, i;
      for (i = 0; i < n; i++) sum += (wts[o * n + i] = Math.max(0, 1 - Math.abs(f - i) / ks));
      var keep = Math.abs(sum) > 1000 * EPS32 && f >= -0.5 && f <= n - 0.5;
      for (i = 0; i < n; i++) wts[o * n + i] = keep ? wts[o * n + i] / sum : 0;
    }
    return wts;
  }
  function resize(src, h, w, H, W) {  // (h, w) -> (H, W): rows, then columns
    var wy = resizeWeights(h, H), wx = resizeWeights(w, W), tmp = new Float64Array(H * w);
    var out = new Float32Array(H * W), I, i, j, J;
    for (I = 0; I < H; I++) for (i = 0; i < h; i++) {
      var a = wy[I * h + i];
      if (a) for (j = 0; j < w; j++) tmp[I * w + j] += a * src[i * w + j];
    }
    for (I = 0; I < H; I++) for (J = 0; J < W; J++) {
      var s = 0;
      for (j = 0; j < w; j++) s += wx[J * w + j] * tmp[I * w + j];
      out[I * W + J] = s;
    }
    return out;
  }

  /* Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391) at conv stage `index` for class
     `target`, as probes/gradcam.py: channel weights = spatial mean of the gradient; ReLU of
     the weighted sum of the maps; bilinear upsampling to the input size. Raw values. */
  function gradcam(model, x, run, index, target) {
    var acts = run.outs[index], h = acts.shape[0], w = acts.shape[1], K = acts.shape[2];
    var g = gradient(model, x, run, index, target), alpha = new Float64Array(K), cam = new Float64Array(h * w);
    for (var p = 0; p < h * w; p++) for (var k = 0; k < K; k++) alpha[k] += g[p * K + k] / (h * w);
    for (var q = 0; q < h * w; q++) {
      var s = 0;
      for (var k2 = 0; k2 < K; k2++) s += acts.data[q * K + k2] * alpha[k2];
      cam[q] = s > 0 ? s : 0;
    }
    return { small: cam, h: h, w: w, weights: alpha, map: resize(cam, h, w, x.shape[0], x.shape[1]) };
  }

  Object.assign(P, { decode: decode, size: size, check: check, load: load, forward: forward,
    gradient: gradient, gradcam: gradcam, resize: resize, softmax: softmax });
})();
