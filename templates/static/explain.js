/* cnnatlas explain page, part 4 of 4: the overview (every stage of one sample side by side),
   sample switching, edges to the units a unit reads from, and the detail panel.
   State lives in the URL fragment: #sample-<id> or #sample-<id>/<stage>/<unit>, so every view
   can be linked. Sample data are classic <script> files added on demand (no fetch(): file://). */
(function () {
  "use strict";
  var X = window.CnnExplain, C = X.core, el = C.el;
  var R = window.CNNATLAS_EXPLAIN, root = document.getElementById("explain");
  if (!root || !R || !R.model) return;
  var model = R.model, links = JSON.parse(document.getElementById("explain-links").textContent);
  var thumbs = Array.prototype.slice.call(root.querySelectorAll(".thumb"));
  var ovWrap = document.getElementById("ov"), detail = document.getElementById("detail");
  var dTitle = document.getElementById("detail-title"), dBody = document.getElementById("detail-body");
  var dLinks = document.getElementById("detail-links"), status = document.getElementById("ov-status");
  var state = { sample: null, stage: null, unit: null, T: null }, view = null;
  var KIND = { conv: "convolution", relu: "ReLU", pool: "max-pooling", dense: "dense + softmax" };

  // ---- overview: one column per stage (flatten is folded into the output column) -------------
  var cols = [], byStage = {}, edgeSvg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  edgeSvg.setAttribute("class", "ov-edges");
  edgeSvg.setAttribute("aria-hidden", "true");
  var grid = el("div", { class: "ov-cols" }, [edgeSvg]);
  function column(name, kind, shape, units, head) {
    var box = el("div", { class: "ov-units" });
    var col = el("div", { class: "ov-col kind-" + kind, "data-stage": name }, [head, box]);
    var entry = { name: name, kind: kind, shape: shape, units: [], box: box };
    for (var k = 0; k < units; k++) {
      var canvas = el("canvas", { class: "px", width: 1, height: 1 });
      var u = kind === "input" ? el("div", { class: "unit input" }, [canvas])
        : el("button", { type: "button", class: "unit", tabindex: "-1", "data-stage": name, "data-unit": String(k),
            "aria-controls": "detail", "aria-label": name + " unit " + k + " (" + KIND[kind] + ")" }, [canvas]);
      box.appendChild(u);
      entry.units.push({ el: u, canvas: canvas });
    }
    grid.appendChild(col);
    cols.push(entry);
    byStage[name] = entry;
    return entry;
  }
  function header(name, sub, href) {
    return el("div", { class: "ov-head" }, [href ? el("a", { href: href, text: name }) : el("span", { text: name }),
      el("span", { class: "small", text: sub })]);
  }
  var inp = model.input;
  column("input", "input", inp, 1, header("input", inp.join("×")));
  model.stages.forEach(function (st) {
    if (st.kind === "flatten") return;
    if (st.kind === "dense") {
      var e = { name: st.name, kind: "dense", units: [], box: el("div", { class: "ov-units" }) };
      model.classes.forEach(function (nm, c) {
        var bar = el("span", { class: "bar" }, [el("span")]), p = el("span", { class: "p" });
        var b = el("button", { type: "button", class: "unit cls", tabindex: "-1", "data-stage": st.name, "data-unit": String(c),
          "aria-controls": "detail" }, [el("span", { class: "name", text: nm }), bar, p]);
        e.box.appendChild(b);
        e.units.push({ el: b, bar: bar.firstChild, p: p, name: nm });
      });
      grid.appendChild(el("div", { class: "ov-col kind-dense", "data-stage": st.name },
        [header("output", "dense + softmax", links.layers[st.name]), e.box]));
      cols.push(e); byStage[st.name] = e;
      return;
    }
    column(st.name, st.kind, st.shape, st.shape[2], header(st.name, st.shape.join("×"), links.layers[st.name]));
  });
  ovWrap.appendChild(grid);
  var buttons = cols.filter(function (c) { return c.kind !== "input"; });
  buttons[0].units[0].el.setAttribute("tabindex", "0");

  function drawOverview() {
    var T = state.T;
    cols.forEach(function (col) {
      if (col.kind === "dense") {
        col.units.forEach(function (u, c) {
          var p = T.probs.data[c];
          u.bar.style.width = (100 * p).toFixed(1) + "%";
          u.p.textContent = (100 * p).toFixed(1) + "%";
          u.el.setAttribute("aria-label", u.name + ": probability " + (100 * p).toFixed(1) + "% (dense + softmax)");
        });
        return;
      }
      var t = T[col.name], st = C.stage(model, col.name), signed = st ? st.signed : false;
      if (col.kind === "input" && t.shape[2] === 3) { C.drawRGB(col.units[0].canvas, t); return; }  // colour stays colour
      var r = C.range(t.data, signed);
      col.units.forEach(function (u, k) { C.draw(model, u.canvas, C.channel(t, k), r[0], r[1], signed, col.kind === "input"); });
    });
    var pred = argmax(T.probs.data), th = thumbOf(state.sample);
    byStage[model.stages[model.stages.length - 1].name].units.forEach(function (u, c) {
      u.el.classList.toggle("pred", c === pred);
      u.el.classList.toggle("label", th && th.getAttribute("data-label") === String(c));
    });
  }
  var argmax = C.argmax;
  function thumbOf(id) { for (var i = 0; i < thumbs.length; i++) if (thumbs[i].getAttribute("data-sample") === id) return thumbs[i]; return null; }

  // ---- edges: from a unit to the units it reads from ------------------------------------------
  function sources(name, k) {  // [{stage, unit, weight (≥ 0), sign}]
    var st = C.stage(model, name);
    if (!st || !state.T) return [];
    if (st.kind === "relu" || st.kind === "pool") return [{ stage: st.from, unit: k, weight: 1, sign: 1 }];
    if (st.kind === "conv") {
      var P = C.params(model, st), ks = P.kernel.shape, out = [];
      for (var c = 0; c < ks[2]; c++) {
        var s = 0, a = 0;
        for (var q = 0; q < ks[0] * ks[1]; q++) { var w = P.kernel.data[(q * ks[2] + c) * ks[3] + k]; s += w; a += Math.abs(w); }
        out.push({ stage: st.from, unit: st.from === "input" ? 0 : c, weight: a, sign: s });
      }
      return out;
    }
    var con = X.views.contributions(model, state.T, k);
    return con ? con.values.map(function (v, c) { return { stage: con.source, unit: c, weight: Math.abs(v), sign: v }; }) : [];
  }
  function drawEdges(name, k) {
    while (edgeSvg.firstChild) edgeSvg.removeChild(edgeSvg.firstChild);
    root.querySelectorAll(".unit.src").forEach(function (u) { u.classList.remove("src"); });
    if (name === null || !byStage[name]) return;
    var box = grid.getBoundingClientRect(), to = byStage[name].units[k].el.getBoundingClientRect();
    edgeSvg.setAttribute("width", grid.scrollWidth); edgeSvg.setAttribute("height", grid.scrollHeight);
    var src = sources(name, k), top = Math.max.apply(null, src.map(function (s) { return s.weight; }).concat([1e-12]));
    src.forEach(function (s) {
      var u = byStage[s.stage].units[s.unit].el, r = u.getBoundingClientRect();
      u.classList.add("src");
      var line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.setAttribute("x1", r.right - box.left); line.setAttribute("y1", r.top + r.height / 2 - box.top);
      line.setAttribute("x2", to.left - box.left); line.setAttribute("y2", to.top + to.height / 2 - box.top);
      line.setAttribute("class", s.sign >= 0 ? "pos" : "neg");
      line.setAttribute("stroke-width", (0.6 + 3.4 * s.weight / top).toFixed(2));
      edgeSvg.appendChild(line);
    });
  }

  // ---- detail panel ---------------------------------------------------------------------------
  function openDetail(name, k, focus) {
    if (view) view.stop();
    var st = C.stage(model, name), ctx = { model: model, st: st, k: k, T: state.T };
    root.querySelectorAll(".unit.sel").forEach(function (u) { u.classList.remove("sel"); u.setAttribute("aria-expanded", "false"); });
    var btn = byStage[name].units[k].el;
    btn.classList.add("sel"); btn.setAttribute("aria-expanded", "true");
    state.stage = name; state.unit = k;
    view = st.kind === "dense" ? X.views.output(ctx, function (c) { openDetail(name, c, false); }) : X.views[st.kind](ctx);
    dTitle.textContent = st.kind === "dense" ? "Output: class " + model.classes[k] + " (" + KIND.dense + ")" : st.name + " · unit " + k + " (" + KIND[st.kind] + ")";
    while (dBody.firstChild) dBody.removeChild(dBody.firstChild);
    dBody.appendChild(view.el);
    while (dLinks.firstChild) dLinks.removeChild(dLinks.firstChild);
    var concept = links.concepts[st.kind];
    if (concept) dLinks.appendChild(el("a", { href: concept.url, text: "Concept: " + concept.title }));
    if (links.layers[name]) dLinks.appendChild(el("a", { href: links.layers[name] + (st.kind === "dense" ? "" : "#unit-" + k), text: st.kind === "dense" ? "This stage on every sample" : "This unit on every sample" }));
    detail.hidden = false;
    drawEdges(name, k);
    writeHash();
    if (focus) { dTitle.focus(); detail.scrollIntoView({ block: "start" }); }
  }
  function closeDetail() {
    if (view) view.stop();
    view = null;
    detail.hidden = true;
    var btn = state.stage !== null ? byStage[state.stage].units[state.unit].el : null;
    state.stage = state.unit = null;
    root.querySelectorAll(".unit.sel").forEach(function (u) { u.classList.remove("sel"); u.setAttribute("aria-expanded", "false"); });
    drawEdges(null);
    writeHash();
    if (btn) { rove(btn); btn.focus(); }
  }
  document.getElementById("detail-close").addEventListener("click", closeDetail);
  detail.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { ev.preventDefault(); closeDetail(); } });

  // ---- samples ------------------------------------------------------------------------------
  function loadSample(id, then) {
    if (R.samples[id]) { then(); return; }
    var s = document.createElement("script");
    s.src = root.getAttribute("data-sample-src").replace("SAMPLE", id);
    s.onload = function () { if (R.samples[id]) then(); else status.textContent = "No data for sample " + id + "."; };
    s.onerror = function () { status.textContent = "Could not load the data of sample " + id + "."; };
    document.head.appendChild(s);
  }
  function showSample(id, stage, unit) {
    var th = thumbOf(id) || thumbs[0];
    id = th.getAttribute("data-sample");
    status.textContent = "Loading " + id + "…";
    loadSample(id, function () {
      state.sample = id;
      state.T = C.tensors(model, R.samples[id]);
      thumbs.forEach(function (t) { var on = t === th; t.setAttribute("aria-pressed", on ? "true" : "false"); t.tabIndex = on ? 0 : -1; });
      var lab = th.getAttribute("data-label-name"), pred = model.classes[argmax(state.T.probs.data)];
      document.getElementById("ov-sample").textContent = id;
      var link = document.getElementById("ov-sample-link");
      link.href = links.samples[id]; link.textContent = "sample page of " + id;
      status.textContent = (lab ? "true class " + lab + ", " : "") + "predicted " + pred + " (" +
        (100 * Math.max.apply(null, state.T.probs.data)).toFixed(1) + "%)" + (lab && lab !== pred ? " — a mistake" : "");
      drawOverview();
      root.setAttribute("data-sample", id);
      if (stage !== undefined && stage !== null && byStage[stage] && byStage[stage].units[unit]) openDetail(stage, unit, false);
      else if (state.stage !== null) openDetail(state.stage, state.unit, false);
      else { drawEdges(null); writeHash(); }
    });
  }
  thumbs.forEach(function (t, i) {
    t.addEventListener("click", function () { showSample(t.getAttribute("data-sample")); });
    t.addEventListener("keydown", function (ev) {
      var n = null, row = +t.getAttribute("data-row"), col = +t.getAttribute("data-col");
      if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") n = thumbs[i + (ev.key === "ArrowLeft" ? -1 : 1)];
      else if (ev.key === "Home") n = thumbs[0];
      else if (ev.key === "End") n = thumbs[thumbs.length - 1];
      else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
        var want = row + (ev.key === "ArrowUp" ? -1 : 1);
        thumbs.forEach(function (o) {  // the same column of the next row, or its last thumbnail
          if (+o.getAttribute("data-row") === want && +o.getAttribute("data-col") <= col) n = o;
        });
      } else return;
      ev.preventDefault();
      if (!n) return;
      thumbs.forEach(function (o) { o.tabIndex = o === n ? 0 : -1; });
      n.focus();
    });
  });

  // ---- keyboard in the overview: one tab stop, arrows move (a roving tabindex) ----------------
  function rove(btn) {
    root.querySelectorAll(".ov-cols .unit[tabindex='0']").forEach(function (u) { u.setAttribute("tabindex", "-1"); });
    btn.setAttribute("tabindex", "0");
  }
  buttons.forEach(function (col, ci) {
    col.units.forEach(function (u, k) {
      u.el.addEventListener("click", function () { rove(u.el); openDetail(col.name, k, true); });
      u.el.addEventListener("mouseenter", function () { drawEdges(col.name, k); });
      u.el.addEventListener("focus", function () { drawEdges(col.name, k); });
      u.el.addEventListener("mouseleave", function () { drawEdges(state.stage, state.unit); });
      u.el.addEventListener("keydown", function (ev) {
        var c2 = ci, k2 = k;
        if (ev.key === "ArrowDown") k2++; else if (ev.key === "ArrowUp") k2--;
        else if (ev.key === "ArrowRight") c2++; else if (ev.key === "ArrowLeft") c2--;
        else return;
        ev.preventDefault();
        c2 = Math.max(0, Math.min(buttons.length - 1, c2));
        var units = buttons[c2].units, next = units[Math.max(0, Math.min(units.length - 1, k2))].el;
        rove(next); next.focus();
      });
    });
  });

  // ---- URL fragment -------------------------------------------------------------------------
  function writeHash() {
    var h = "#sample-" + state.sample + (state.stage !== null ? "/" + state.stage + "/" + state.unit : "");
    if (location.hash !== h) history.replaceState(null, "", h);
  }
  function readHash() {
    var parts = decodeURIComponent(location.hash.replace(/^#sample-/, "")).split("/");
    var id = parts[0] && thumbOf(parts[0]) ? parts[0] : thumbs[0].getAttribute("data-sample");
    var unit = parts.length === 3 ? parseInt(parts[2], 10) : null;
    showSample(id, parts.length === 3 ? parts[1] : null, unit);
  }
  window.addEventListener("hashchange", readHash);
  window.addEventListener("resize", function () { drawEdges(state.stage, state.unit); });
  root.classList.add("ready");
  readHash();
})();
