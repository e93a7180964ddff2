/* cnnatlas playground (issue 11), part 3 of 3: the page. Draw, upload or pick an image; every
   change runs the network (playground-core.js) and redraws the prediction, Grad-CAM, every
   stage's maps and the nearest fixed sample, at most once per animation frame.
   window.CnnPlayground.page exposes the state and the timings for the tests. */
(function () {
  "use strict";
  var P = window.CnnPlayground, DATA = window.CNNATLAS_PLAYGROUND || {};
  var root = document.getElementById("pg");
  if (!root || !P) return;
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fail(message) {
    var box = $("pg-error");
    box.textContent = message;
    box.hidden = false;
    root.hidden = true;
  }

  var model;
  try {
    model = P.load(DATA.model);
    if (model.input[2] !== 1) throw new Error("it reads " + model.input[2] + "-channel images; the playground draws grayscale ones");
  } catch (e) {
    fail("The playground cannot run this model: " + e.message + ". The precomputed maps are on the sample pages.");
    return;
  }
  var links = JSON.parse($("pg-links").textContent);
  var H = model.input[0], W = model.input[1], N = model.stages.length;
  var FEAT = N - 2;  // the stage the final dense layer reads: "penultimate features"
  var samples = (DATA.samples || []).map(function (s) {
    return { id: s.id, label: s.label, pred: s.pred, probs: P.decode(s.probs).data, x: P.decode(s.input) };
  });
  var byId = {};
  samples.forEach(function (s) { byId[s.id] = s; });
  var LUT = { seq: model.luts.sequential, div: model.luts.diverging };

  var state = {
    x: { shape: [H, W, 1], data: new Float32Array(H * W) }, source: "", kind: "empty", sample: null, edited: false,
    brush: 1.6, erase: false, camClass: "pred", camLayer: $("pg-cam-layer").value,
    nFilters: +$("pg-nfilters").value, order: $("pg-order").value, run: null, cam: null,
  };
  var timings = [];

  // ---- drawing helpers ------------------------------------------------------------------------
  function paint(canvas, values, w, h, colour) {  // colour(v) -> [r, g, b]
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h), d = img.data;
    for (var p = 0; p < w * h; p++) {
      var c = colour(values[p], p);
      d[4 * p] = c[0]; d[4 * p + 1] = c[1]; d[4 * p + 2] = c[2]; d[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function lutColour(lut, lo, hi) {  // images.py to_index: round((v - lo) / (hi - lo) · 255)
    var span = hi - lo, flat = lo < 0 ? 128 : 0, rgb = [0, 0, 0];
    return function (v) {
      var i = span > 0 ? Math.min(255, Math.max(0, Math.round((v - lo) / span * 255))) : flat;
      rgb[0] = lut[3 * i]; rgb[1] = lut[3 * i + 1]; rgb[2] = lut[3 * i + 2];
      return rgb;
    };
  }
  function gray(v) { var g = Math.round(Math.min(1, Math.max(0, v)) * 255); return [g, g, g]; }
  function fmt(v) { return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : (+v.toPrecision(3)).toString(); }
  function pct(p) { return (100 * p).toFixed(p > 0.999 || p < 0.001 ? 2 : 1) + "%"; }
  function className(i) { return i === null || i === undefined ? "unknown" : model.classes[i]; }

  // ---- input: draw, erase, clear ---------------------------------------------------------------
  var canvas = $("pg-canvas"), drawing = false, last = null;
  function at(e) {
    var r = canvas.getBoundingClientRect();
    return { x: (e.clientX - r.left) / r.width * W, y: (e.clientY - r.top) / r.height * H };
  }
  function stamp(p) {  // an anti-aliased disc of radius state.brush (in input pixels)
    var r = state.brush, x = state.x.data;
    for (var i = Math.max(0, Math.floor(p.y - r - 1)); i < Math.min(H, Math.ceil(p.y + r + 1)); i++) {
      for (var j = Math.max(0, Math.floor(p.x - r - 1)); j < Math.min(W, Math.ceil(p.x + r + 1)); j++) {
        var v = Math.min(1, Math.max(0, r + 0.5 - Math.hypot(j + 0.5 - p.x, i + 0.5 - p.y)));
        x[i * W + j] = state.erase ? Math.min(x[i * W + j], 1 - v) : Math.max(x[i * W + j], v);
      }
    }
  }
  function stroke(a, b) {
    var n = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / 0.25));
    for (var t = 1; t <= n; t++) stamp({ x: a.x + (b.x - a.x) * t / n, y: a.y + (b.y - a.y) * t / n });
  }
  function edited() {  // the source line says what is drawn on
    if (state.kind === "empty") { state.kind = "drawing"; state.source = "your drawing"; }
    else if (state.kind !== "drawing" && !state.edited) { state.edited = true; state.source += ", edited"; }
    schedule();
  }
  canvas.addEventListener("pointerdown", function (e) {
    if (e.button !== 0) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    drawing = true; last = at(e); stamp(last); edited();
  });
  canvas.addEventListener("pointermove", function (e) {
    if (!drawing) return;
    var p = at(e);
    stroke(last, p); last = p; edited();
  });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (t) {
    canvas.addEventListener(t, function () { drawing = false; });
  });
  function setMode(erase) {
    state.erase = erase;
    $("pg-draw").setAttribute("aria-pressed", String(!erase));
    $("pg-erase").setAttribute("aria-pressed", String(erase));
  }
  $("pg-draw").addEventListener("click", function () { setMode(false); });
  $("pg-erase").addEventListener("click", function () { setMode(true); });
  $("pg-brush").addEventListener("change", function () { state.brush = +this.value; });
  $("pg-clear").addEventListener("click", function () {
    setInput(new Float32Array(H * W), "an empty canvas: draw on it", "empty", null);
  });

  /* kind: "sample" (then `sample` is its id), "upload" or "empty" (drawing starts "drawing"). */
  function setInput(data, source, kind, steps, sample) {
    state.x = { shape: [H, W, 1], data: data };
    state.source = source; state.kind = kind; state.sample = sample || null; state.edited = false;
    $("pg-steps-box").hidden = !steps;
    var ol = $("pg-steps");
    ol.textContent = "";
    (steps || []).forEach(function (s) { ol.appendChild(el("li", {}, s)); });
    document.querySelectorAll(".pg-thumb").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.sample === state.sample));
    });
    schedule();
  }

  // ---- samples ---------------------------------------------------------------------------------
  function pick(id) {
    var s = byId[id];
    if (!s) return;
    var who = s.label === null ? "your image" : "true class " + className(s.label);
    setInput(new Float32Array(s.x.data), "sample " + s.id + " (" + who + ")", "sample", null, s.id);
  }
  var thumbs = Array.prototype.slice.call(document.querySelectorAll(".pg-thumb"));
  thumbs.forEach(function (b, i) {
    b.addEventListener("click", function () { pick(b.dataset.sample); thumbs.forEach(function (t) { t.tabIndex = -1; }); b.tabIndex = 0; });
    b.addEventListener("keydown", function (e) {
      var to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: thumbs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      var t = thumbs[Math.max(0, Math.min(thumbs.length - 1, to))];
      b.tabIndex = -1; t.tabIndex = 0; t.focus();
    });
  });
  if (thumbs.length) thumbs[0].tabIndex = 0;
  $("pg-random").addEventListener("click", function () {
    if (samples.length) pick(samples[Math.floor(Math.random() * samples.length)].id);
  });

  // ---- upload ----------------------------------------------------------------------------------
  var MAX_PIXELS = 40000000, MAX_BYTES = 50 * 1024 * 1024;  // samples.py MAX_PIXELS
  function uploadMessage(text) { var m = $("pg-upload-msg"); m.textContent = text; m.hidden = !text; }
  function readFile(file) {
    if (!file) return;
    var name = file.name || "the file";
    var refuse = function (why) { uploadMessage("“" + name + "” was not used: " + why + ". The previous image is kept."); };
    if (file.size > MAX_BYTES) return refuse("it is larger than 50 MB");
    var reader = new FileReader();
    reader.onerror = function () { refuse("the browser could not read it"); };
    reader.onload = function () {
      var img = new Image();
      img.onerror = function () { refuse("it is not an image the browser can decode (PNG, JPEG, GIF or WebP work)"); };
      img.onload = function () {
        var w = img.naturalWidth, h = img.naturalHeight;
        if (!w || !h) return refuse("the image is empty");
        if (w * h > MAX_PIXELS) return refuse("it has " + w + "×" + h + " pixels, more than 40,000,000; scale it down first");
        var c = el("canvas");
        c.width = w; c.height = h;
        var ctx = c.getContext("2d", { willReadFrequently: true });
        ctx.drawImage(img, 0, 0);
        var type = (file.type.split("/")[1] || "image").toUpperCase();
        var out = P.convert(ctx.getImageData(0, 0, w, h).data, w, h, model.input, type);
        uploadMessage("");
        setInput(out.x.data, "your upload “" + name + "”", "upload", out.steps);
      };
      img.src = reader.result;  // a data: URL, so the canvas stays readable under file://
    };
    reader.readAsDataURL(file);
  }
  var fileInput = $("pg-file");
  $("pg-upload").addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () { readFile(fileInput.files[0]); fileInput.value = ""; });
  canvas.addEventListener("dragover", function (e) { e.preventDefault(); });
  canvas.addEventListener("drop", function (e) { e.preventDefault(); readFile(e.dataTransfer.files[0]); });

  // ---- controls --------------------------------------------------------------------------------
  $("pg-cam-class").addEventListener("change", function () { state.camClass = this.value; schedule(); });
  $("pg-cam-layer").addEventListener("change", function () { state.camLayer = this.value; schedule(); });
  $("pg-nfilters").addEventListener("input", function () {
    state.nFilters = +this.value; $("pg-nfilters-v").textContent = this.value; buildActs(); schedule();
  });
  $("pg-order").addEventListener("change", function () { state.order = this.value; schedule(); });

  // ---- activations: one row per stage ----------------------------------------------------------
  var rows = [];
  function buildActs() {
    var box = $("pg-acts");
    box.textContent = "";
    rows = model.stages.map(function (st) {
      var row = el("div", { class: "pg-row" }), head = el("div", { class: "pg-row-head" });
      var name = el("a", { href: links.layers[st.name] || "#" }, st.name);
      head.appendChild(name);
      head.appendChild(el("span", { class: "small" }, st.kind + " · " + st.shape.join("×")));
      var range = el("span", { class: "small pg-range" });
      head.appendChild(range);
      row.appendChild(head);
      var units = el("div", { class: "pg-units" }), cells = [];
      if (st.shape.length === 3) {
        for (var k = 0; k < Math.min(state.nFilters, st.shape[2]); k++) {
          var a = el("a", { class: "pg-unit" }), c = el("canvas", { width: st.shape[1], height: st.shape[0] });
          var cap = el("span", { class: "small" });
          a.appendChild(c); a.appendChild(cap); units.appendChild(a);
          cells.push({ a: a, canvas: c, cap: cap });
        }
      } else {
        var strip = el("canvas", { class: "pg-strip", width: st.shape[0], height: 1, role: "img" });
        strip.style.width = Math.min(st.shape[0] * (st.shape[0] <= 20 ? 24 : 5), 960) + "px";
        units.appendChild(strip);
        cells.push({ canvas: strip });
      }
      row.appendChild(units);
      box.appendChild(row);
      return { st: st, range: range, cells: cells };
    });
  }
  function channel(t, k) {
    var hw = t.shape[0] * t.shape[1], K = t.shape[2], out = new Float32Array(hw);
    for (var p = 0; p < hw; p++) out[p] = t.data[p * K + k];
    return out;
  }
  function drawActs(run) {
    rows.forEach(function (row, s) {
      var t = run.outs[s], st = row.st, signed = st.kind === "conv" || st.kind === "dense" || st.kind === "flatten";
      var lo = Infinity, hi = -Infinity;
      for (var i = 0; i < t.data.length; i++) { lo = Math.min(lo, t.data[i]); hi = Math.max(hi, t.data[i]); }
      if (signed) { hi = Math.max(Math.abs(lo), Math.abs(hi)); lo = -hi; }
      var colour = lutColour(signed ? LUT.div : LUT.seq, lo, hi);
      row.range.textContent = "scale " + fmt(lo) + " … " + fmt(hi);
      if (st.shape.length !== 3) {
        var strip = row.cells[0].canvas, last = s === rows.length - 1;
        paint(strip, t.data, t.data.length, 1, colour);
        var what = Array.prototype.slice.call(t.data, 0, 20).map(function (v, i) {
          return (last ? className(i) : "#" + i) + " " + fmt(v);
        }).join(", ");
        strip.title = (last ? "logits: " : st.name + ": ") + what + (t.data.length > 20 ? ", …" : "");
        strip.setAttribute("aria-label", strip.title);
        return;
      }
      var K = st.shape[2], order = [];
      for (var k = 0; k < K; k++) order.push(k);
      var maps = order.map(function (k) { return channel(t, k); });
      if (state.order === "mean") {
        var mean = maps.map(function (m) { return m.reduce(function (a, b) { return a + b; }, 0) / m.length; });
        order.sort(function (a, b) { return mean[b] - mean[a] || a - b; });
      }
      row.cells.forEach(function (cell, i) {
        var k = order[i];
        paint(cell.canvas, maps[k], st.shape[1], st.shape[0], colour);
        cell.cap.textContent = "#" + k;
        cell.a.href = (links.layers[st.name] || "") + "#unit-" + k;
        cell.a.title = st.name + " unit " + k;
        cell.canvas.setAttribute("aria-label", st.name + " unit " + k);
      });
    });
  }

  // ---- prediction, Grad-CAM, nearest sample ----------------------------------------------------
  function drawPrediction(probs) {
    var order = Array.prototype.map.call(probs, function (p, i) { return i; });
    order.sort(function (a, b) { return probs[b] - probs[a] || a - b; });
    $("pg-top-class").textContent = className(order[0]);
    $("pg-top-p").textContent = pct(probs[order[0]]);
    var ol = $("pg-bars");
    ol.textContent = "";
    order.slice(0, Math.min(+ol.dataset.k || 5, probs.length)).forEach(function (c) {
      var li = el("li"), b = el("button", { type: "button", class: "pg-bar-btn", "data-class": c });
      b.setAttribute("aria-pressed", String(String(state.camTarget) === String(c)));
      b.appendChild(el("span", { class: "pg-name" }, className(c)));
      var bar = el("span", { class: "pg-bar" }), fill = el("span");
      fill.style.width = (100 * probs[c]).toFixed(2) + "%";
      bar.appendChild(fill);
      b.appendChild(bar);
      b.appendChild(el("span", { class: "num" }, pct(probs[c])));
      b.addEventListener("click", function () { $("pg-cam-class").value = String(c); state.camClass = String(c); schedule(); });
      li.appendChild(b);
      ol.appendChild(li);
    });
  }
  function drawCam(cam, target, layer) {
    var hi = 0, i;
    for (i = 0; i < cam.map.length; i++) hi = Math.max(hi, cam.map[i]);
    var heat = lutColour(LUT.seq, 0, hi), x = state.x.data, mix = [0, 0, 0];
    paint($("pg-cam-canvas"), cam.map, W, H, function (v, p) {  // images.overlay_png, alpha 0.6
      var c = heat(v);
      for (var ch = 0; ch < 3; ch++) mix[ch] = Math.round(0.4 * x[p] * 255 + 0.6 * c[ch]);
      return mix;
    });
    paint($("pg-cam-raw"), cam.small, cam.w, cam.h, heat);
    $("pg-cam-raw-cap").textContent = layer + ", " + cam.h + "×" + cam.w;
    $("pg-cam-hi").textContent = fmt(hi);
    $("pg-cam-canvas").setAttribute("aria-label", "Grad-CAM for " + className(target) + " at " + layer + " over the input; maximum " + fmt(hi));
    $("pg-cam-note").textContent = hi > 0
      ? "Bright: where " + layer + " holds evidence for “" + className(target) + "”."
      : "Zero everywhere: at " + layer + " nothing here raises the score of “" + className(target) + "”.";
  }
  function nearest(feat) {
    var best = null, bestD = Infinity;
    samples.forEach(function (s) {
      var d = 0;
      for (var i = 0; i < feat.length; i++) { var e = feat[i] - s.feat[i]; d += e * e; }
      if (d < bestD) { bestD = d; best = s; }
    });
    if (!best) return;
    var a = $("pg-nearest");
    if (!a) return;
    a.href = links.samples[best.id];
    a.dataset.sample = best.id;
    $("pg-nearest-img").src = links.thumbs[best.id];
    $("pg-nearest-img").alt = best.id;
    var who = best.label === null ? "your image" : className(best.label);
    $("pg-nearest-text").textContent = best.id + " · " + who + " · distance " + fmt(Math.sqrt(bestD)) + " → its atlas page";
  }

  // ---- the update loop -------------------------------------------------------------------------
  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; update(); });
  }
  function update() {
    var t0 = performance.now();
    var run = P.forward(model, state.x), pred = 0, i;
    for (i = 1; i < run.probs.length; i++) if (run.probs[i] > run.probs[pred]) pred = i;
    var t1 = performance.now();
    var target = state.camClass === "pred" ? pred : +state.camClass;
    var layer = model.stages.filter(function (st) { return st.name === state.camLayer; })[0];
    var cam = P.gradcam(model, state.x, run, layer.index, target);
    var t2 = performance.now();
    state.run = run; state.cam = cam; state.camTarget = target; state.pred = pred;
    paint(canvas, state.x.data, W, H, gray);
    $("pg-source").textContent = state.source;
    drawPrediction(run.probs);
    drawCam(cam, target, layer.name);
    if (samples.length && FEAT >= 0) nearest(run.outs[FEAT].data);
    drawActs(run);
    var t3 = performance.now();
    timings.push({ total: t3 - t0, forward: t1 - t0, gradcam: t2 - t1, draw: t3 - t2 });
    $("pg-status").textContent = "Computed in your browser in " + (t3 - t0).toFixed(1) + " ms (network " +
      (t1 - t0).toFixed(1) + ", Grad-CAM " + (t2 - t1).toFixed(1) + ", drawing " + (t3 - t2).toFixed(1) + " ms).";
    root.dataset.updates = String(+root.dataset.updates + 1);
    root.dataset.ready = "1";
  }

  /* The fixed samples once at load: features for the nearest-sample search, and a check that
     this page computes what the build computed (predicted class and probabilities). */
  function selfCheck() {
    var same = 0, worst = 0;
    samples.forEach(function (s) {
      var run = P.forward(model, s.x);
      s.feat = run.outs[FEAT].data;
      var pred = 0;
      for (var i = 0; i < run.probs.length; i++) {
        if (run.probs[i] > run.probs[pred]) pred = i;
        worst = Math.max(worst, Math.abs(run.probs[i] - s.probs[i]));
      }
      if (pred === s.pred) same++;
    });
    $("pg-selfcheck").textContent = samples.length
      ? "Check: your browser recomputed the " + samples.length + " fixed samples at load; the predicted class matches the build's for " +
        same + " of them, and the probabilities differ from the build's by at most " + worst.toExponential(1) + "."
      : "";
    root.dataset.selfcheck = JSON.stringify({ n: samples.length, same: same, maxdiff: worst });
  }

  buildActs();
  selfCheck();
  if (samples.length) pick(samples[0].id);
  else setInput(new Float32Array(H * W), "an empty canvas: draw on it", "empty", null);
  P.page = { state: state, timings: timings, update: update, pick: pick, model: model, samples: samples };
})();
