/* cnnatlas explain page: the hyperparameter view (CNN Explainer's HyperparameterView).
   The reader sets input size n, padding p, kernel size k and stride s; the page shows
   out = floor((n + 2p − k) / s) + 1 and slides the window over the padded input. Pure DOM + SVG. */
(function () {
  "use strict";
  var X = window.CnnExplain;
  var root = document.getElementById("hp");
  if (!root) return;
  var NS = "http://www.w3.org/2000/svg";
  var inputs = {};
  ["n", "p", "k", "s"].forEach(function (name) { inputs[name] = document.getElementById("hp-" + name); });
  var svg = document.getElementById("hp-svg"), formula = document.getElementById("hp-formula");
  var note = document.getElementById("hp-note"), size = document.getElementById("hp-out");
  var pos = 0, timer = null, play = document.getElementById("hp-play");

  function get() {
    var v = {};
    Object.keys(inputs).forEach(function (name) {
      v[name] = parseInt(inputs[name].value, 10);
      var shown = document.getElementById("hp-" + name + "-v");
      if (shown) shown.textContent = String(v[name]);
    });
    return v;
  }
  function outSize(v) { return v.k > v.n + 2 * v.p ? 0 : Math.floor((v.n + 2 * v.p - v.k) / v.s) + 1; }

  function rect(x, y, w, h, cls) {
    var r = document.createElementNS(NS, "rect");
    r.setAttribute("x", x); r.setAttribute("y", y); r.setAttribute("width", w); r.setAttribute("height", h);
    r.setAttribute("class", cls);
    return r;
  }
  function text(x, y, t, cls) {
    var e = document.createElementNS(NS, "text");
    e.setAttribute("x", x); e.setAttribute("y", y); e.setAttribute("class", cls || "lbl");
    e.textContent = t;
    return e;
  }

  function draw() {
    var v = get(), o = outSize(v), full = v.n + 2 * v.p;
    var cell = Math.max(6, Math.min(22, Math.floor(300 / full))), gap = 48;
    var ocell = o ? Math.max(6, Math.min(22, Math.floor(240 / o))) : 0;
    var W = full * cell + gap + o * ocell + 2, H = Math.max(full * cell, o * ocell) + 22;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("width", W); svg.setAttribute("height", H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (o) pos = pos % (o * o);
    var oi = o ? Math.floor(pos / o) : 0, oj = o ? pos % o : 0;
    for (var i = 0; i < full; i++) for (var j = 0; j < full; j++) {
      var padded = i < v.p || j < v.p || i >= v.p + v.n || j >= v.p + v.n;
      var used = o && i < (o - 1) * v.s + v.k && j < (o - 1) * v.s + v.k;
      svg.appendChild(rect(1 + j * cell, 1 + i * cell, cell - 1, cell - 1, padded ? "pad" : used ? "in" : "in unused"));
    }
    if (o) {
      svg.appendChild(rect(1 + oj * v.s * cell - 1, 1 + oi * v.s * cell - 1, v.k * cell + 1, v.k * cell + 1, "window"));
      var ox = full * cell + gap;
      for (var a = 0; a < o; a++) for (var b = 0; b < o; b++) {
        svg.appendChild(rect(ox + b * ocell, 1 + a * ocell, ocell - 1, ocell - 1, a === oi && b === oj ? "out sel" : "out"));
      }
      svg.appendChild(text(full * cell + 8, 14 + Math.min(full * cell, o * ocell) / 2, "→"));
    }
    svg.appendChild(text(1, H - 4, "input " + v.n + "×" + v.n + (v.p ? " + padding " + v.p : "")));
    if (o) svg.appendChild(text(full * cell + gap, H - 4, "output " + o + "×" + o));
    size.textContent = o ? o + " × " + o : "none";
    formula.textContent = "output = ⌊(n + 2p − k) / s⌋ + 1 = ⌊(" + v.n + " + " + 2 * v.p + " − " + v.k + ") / " + v.s + "⌋ + 1 = " +
      (o ? o : "— (the kernel does not fit)");
    var left = full - ((o - 1) * v.s + v.k);
    note.textContent = !o ? "The kernel is larger than the padded input: there is no valid position. Add padding or use a smaller kernel."
      : left > 0 ? "The last " + left + " row" + (left > 1 ? "s" : "") + " and column" + (left > 1 ? "s" : "") + " of the padded input (light) are never covered: the stride does not divide n + 2p − k."
      : "Window at output cell [" + oi + ", " + oj + "] covers input rows " + (oi * v.s - v.p) + "…" + (oi * v.s - v.p + v.k - 1) + " (negative or ≥ n: padding zeros).";
  }

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    play.textContent = "▶ Play"; play.setAttribute("aria-pressed", "false");
  }
  Object.keys(inputs).forEach(function (name) { inputs[name].addEventListener("input", function () { pos = 0; draw(); }); });
  document.getElementById("hp-prev").addEventListener("click", function () { stop(); var o = outSize(get()); pos = o ? (pos - 1 + o * o) % (o * o) : 0; draw(); });
  document.getElementById("hp-next").addEventListener("click", function () { stop(); pos += 1; draw(); });
  play.addEventListener("click", function () {
    if (timer) { stop(); return; }
    timer = setInterval(function () { pos += 1; draw(); }, 500);
    play.textContent = "❚❚ Pause"; play.setAttribute("aria-pressed", "true");
  });
  Array.prototype.forEach.call(root.querySelectorAll("[data-preset]"), function (btn) {
    btn.addEventListener("click", function () {
      var v = btn.getAttribute("data-preset").split(",");
      ["n", "p", "k", "s"].forEach(function (name, q) { inputs[name].value = v[q]; });
      stop(); pos = 0; draw();
    });
  });
  root.classList.add("ready");
  draw();
  X.hparams = { outSize: outSize };
})();
