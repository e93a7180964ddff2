/* cnnatlas t-SNE map: a canvas scatter of every mapped test image, coloured by true class.
   Data come from <script src> files, never fetch() (which fails from file://):
     window.CNNATLAS_POINTS  labels, preds, classes, sprite geometry, sample page links
     window.CNNATLAS_LAYOUT  xy as integers 0..scale, x then y for each point
   The view (centre, zoom, hidden classes, "misclassified only") lives in the URL hash, and the
   layer links carry it, so switching layers keeps the view. */
(function () {
  "use strict";
  var root = document.getElementById("mapview");
  var P = window.CNNATLAS_POINTS, L = window.CNNATLAS_LAYOUT;
  if (!root || !P || !L) return;

  var canvas = document.getElementById("map-canvas");
  var ctx = canvas.getContext("2d");
  var tip = document.getElementById("map-tip");
  var tipText = document.getElementById("map-tip-text");
  var thumb = document.getElementById("map-thumb");
  var status = document.getElementById("map-status");
  var wrongBox = document.getElementById("map-wrong-only");
  var layerLinks = Array.prototype.slice.call(document.querySelectorAll(".layer-link"));
  var legendButtons = Array.prototype.slice.call(root.querySelectorAll(".legend-btn"));

  var MARGIN = 14, HOVER_PX = 9, MIN_ZOOM = 0.5, MAX_ZOOM = 200;
  var xy = L.xy, n = P.n, scale = P.scale;
  var sampleIds = Object.keys(P.samples).map(Number).sort(function (a, b) { return a - b; });
  var view = { x: scale / 2, y: scale / 2, zoom: 1 };
  var hidden = {};          // class index -> true when hidden
  var wrongOnly = false;
  var size = 0, dpr = 1;    // canvas size in CSS pixels, device pixel ratio
  var focus = -1;           // the point under the mouse or chosen with n / p, -1 if none
  var sprite = new Image();

  // ---- geometry ------------------------------------------------------------------------
  function pxPerUnit() { return view.zoom * (size - 2 * MARGIN) / scale; }
  function screenOf(i) {
    var k = pxPerUnit();
    return [(xy[2 * i] - view.x) * k + size / 2, (view.y - xy[2 * i + 1]) * k + size / 2];
  }
  function dataAt(sx, sy) {
    var k = pxPerUnit();
    return [view.x + (sx - size / 2) / k, view.y - (sy - size / 2) / k];
  }
  function isWrong(i) { return P.labels[i] !== P.preds[i]; }
  function visible(i) { return !hidden[P.labels[i]] && (!wrongOnly || isWrong(i)); }
  function onScreen(s, pad) { return s[0] > -pad && s[1] > -pad && s[0] < size + pad && s[1] < size + pad; }

  function nearest(sx, sy) {  // the closest visible point within HOVER_PX, or -1
    var best = -1, bestD = HOVER_PX * HOVER_PX;
    for (var i = 0; i < n; i++) {
      if (!visible(i)) continue;
      var s = screenOf(i), dx = s[0] - sx, dy = s[1] - sy, d = dx * dx + dy * dy;
      if (d < bestD) { best = i; bestD = d; }
    }
    return best;
  }

  // ---- drawing -------------------------------------------------------------------------
  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    var r = Math.min(4.5, 2 + 0.5 * Math.log2(Math.max(1, view.zoom)));
    var drawn = 0, c, i, s;
    for (c = 0; c < P.classes.length; c++) {  // one path per class: correct points as dots
      if (hidden[c]) continue;
      ctx.fillStyle = P.classes[c].colour;
      ctx.beginPath();
      for (i = 0; i < n; i++) {
        if (P.labels[i] !== c || isWrong(i) || !visible(i)) continue;
        s = screenOf(i);
        if (!onScreen(s, r)) continue;
        ctx.moveTo(s[0] + r, s[1]);
        ctx.arc(s[0], s[1], r, 0, 2 * Math.PI);
        drawn++;
      }
      ctx.fill();
    }
    ctx.lineWidth = 1.6;
    for (c = 0; c < P.classes.length; c++) {  // misclassified points as crosses, on top
      if (hidden[c]) continue;
      ctx.strokeStyle = P.classes[c].colour;
      ctx.beginPath();
      for (i = 0; i < n; i++) {
        if (P.labels[i] !== c || !isWrong(i)) continue;
        s = screenOf(i);
        if (!onScreen(s, r + 1)) continue;
        ctx.moveTo(s[0] - r, s[1] - r); ctx.lineTo(s[0] + r, s[1] + r);
        ctx.moveTo(s[0] - r, s[1] + r); ctx.lineTo(s[0] + r, s[1] - r);
        drawn++;
      }
      ctx.stroke();
    }
    ctx.strokeStyle = "#1b1f29";  // rings: the points that have a sample page
    ctx.lineWidth = 1;
    ctx.beginPath();
    sampleIds.forEach(function (j) {
      if (j >= n || !visible(j)) return;
      var q = screenOf(j);
      if (!onScreen(q, r + 4)) return;
      ctx.moveTo(q[0] + r + 2.5, q[1]);
      ctx.arc(q[0], q[1], r + 2.5, 0, 2 * Math.PI);
    });
    ctx.stroke();
    if (focus >= 0 && visible(focus)) {
      var f = screenOf(focus);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "#2456c6";
      ctx.beginPath();
      ctx.arc(f[0], f[1], r + 5, 0, 2 * Math.PI);
      ctx.stroke();
    }
    root.setAttribute("data-drawn", String(drawn));
    root.setAttribute("data-ready", "1");
  }

  function resize() {
    size = canvas.clientWidth;
    dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(size * dpr);
    canvas.height = Math.round(size * dpr);
    draw();
  }

  // ---- tooltip -------------------------------------------------------------------------
  function drawThumb(i) {
    var t = thumb.getContext("2d"), g = P.sprite;
    t.imageSmoothingEnabled = false;
    t.clearRect(0, 0, thumb.width, thumb.height);
    if (!sprite.complete || !sprite.naturalWidth) return;
    t.drawImage(sprite, (i % g.cols) * g.w, Math.floor(i / g.cols) * g.h, g.w, g.h,
                0, 0, thumb.width, thumb.height);
    tip.setAttribute("data-thumb", String(i));
  }

  function showTip(i) {
    if (i < 0 || !visible(i)) { hideTip(); return; }
    var label = P.classes[P.labels[i]].name, pred = P.classes[P.preds[i]].name;
    var lines = ["test image #" + i, "true: " + label,
                 "predicted: " + pred + (isWrong(i) ? " \u2717" : " \u2713")];
    if (P.samples[i]) lines.push("click or Enter: open its sample page");
    tipText.textContent = "";
    lines.forEach(function (line) {
      var div = document.createElement("div");
      div.textContent = line;
      tipText.appendChild(div);
    });
    drawThumb(i);
    tip.hidden = false;
    tip.setAttribute("data-index", String(i));
    var s = screenOf(i), w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = (s[0] + 14 + w > size ? s[0] - 14 - w : s[0] + 14) + "px";
    tip.style.top = Math.max(0, Math.min(size - h, s[1] - h / 2)) + "px";
    canvas.classList.toggle("link", Boolean(P.samples[i]));
  }

  function hideTip() {
    tip.hidden = true;
    tip.removeAttribute("data-index");
    canvas.classList.remove("link");
  }

  function setFocus(i) {
    focus = i;
    draw();
    showTip(i);
  }

  // ---- view state in the URL hash ------------------------------------------------------
  function stateString() {
    var hide = Object.keys(hidden).filter(function (c) { return hidden[c]; }).join(".");
    return "view=" + Math.round(view.x) + "," + Math.round(view.y) + "," + view.zoom.toFixed(3) +
      (hide ? "&hide=" + hide : "") + (wrongOnly ? "&wrong=1" : "");
  }

  function readState(hash) {
    hash.replace(/^#/, "").split("&").forEach(function (part) {
      var kv = part.split("="), v = kv[1] || "";
      if (kv[0] === "view") {
        var a = v.split(",").map(Number);
        if (a.length === 3 && a.every(isFinite) && a[2] > 0) {
          view = { x: a[0], y: a[1], zoom: Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, a[2])) };
        }
      } else if (kv[0] === "hide") {
        v.split(".").forEach(function (c) { if (P.classes[+c]) hidden[+c] = true; });
      } else if (kv[0] === "wrong") {
        wrongOnly = v === "1";
      }
    });
  }

  function updateLinks() {
    var s = "#" + stateString();
    layerLinks.forEach(function (a) { a.href = a.getAttribute("href").split("#")[0] + s; });
  }

  var saveTimer = 0;
  function saveState() {  // debounced: many history updates in a row are throttled by browsers
    updateLinks();
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () {
      try { history.replaceState(null, "", "#" + stateString()); } catch (e) { /* file:// may refuse */ }
    }, 150);
  }

  function syncControls() {
    legendButtons.forEach(function (b) {
      b.setAttribute("aria-pressed", hidden[+b.getAttribute("data-class")] ? "false" : "true");
    });
    wrongBox.checked = wrongOnly;
  }

  function changed(message) {
    draw();
    hideTip();
    saveState();
    if (message) status.textContent = message;
  }

  // ---- interaction ---------------------------------------------------------------------
  function zoomAt(factor, sx, sy) {
    var before = dataAt(sx, sy);
    view.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor));
    var after = dataAt(sx, sy);
    view.x += before[0] - after[0];
    view.y += before[1] - after[1];
    changed();
  }

  function reset() {
    view = { x: scale / 2, y: scale / 2, zoom: 1 };
    changed("View reset");
  }

  function local(ev) {
    var box = canvas.getBoundingClientRect();
    return [ev.clientX - box.left, ev.clientY - box.top];
  }

  function openSample(i) {
    if (i >= 0 && P.samples[i]) window.location.href = P.samples[i];
  }

  var drag = null;
  canvas.addEventListener("pointerdown", function (ev) {
    drag = { start: local(ev), last: local(ev), moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", function (ev) {
    var p = local(ev);
    if (drag) {
      if (Math.abs(p[0] - drag.start[0]) + Math.abs(p[1] - drag.start[1]) > 4) drag.moved = true;
      if (drag.moved) {
        var k = pxPerUnit();
        view.x -= (p[0] - drag.last[0]) / k;
        view.y += (p[1] - drag.last[1]) / k;
        drag.last = p;
        canvas.classList.add("dragging");
        changed();
        return;
      }
    }
    var i = nearest(p[0], p[1]);
    if (i !== focus) setFocus(i);
  });
  canvas.addEventListener("pointerup", function (ev) {
    var wasClick = drag && !drag.moved;
    drag = null;
    canvas.classList.remove("dragging");
    if (wasClick) { var p = local(ev); openSample(nearest(p[0], p[1])); }
  });
  canvas.addEventListener("pointerleave", function () { if (!drag) { focus = -1; draw(); hideTip(); } });
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = local(ev);
    zoomAt(Math.exp(-ev.deltaY * 0.0015), p[0], p[1]);
  }, { passive: false });

  function step(direction) {  // n / p: the next or previous visible sample image
    var ids = sampleIds.filter(function (j) { return j < n && visible(j); });
    if (!ids.length) return;
    var pos = ids.indexOf(focus);
    var next = pos < 0 ? ids[direction > 0 ? 0 : ids.length - 1]
                       : ids[(pos + direction + ids.length) % ids.length];
    if (!onScreen(screenOf(next), -MARGIN)) {  // bring it into view
      view.x = xy[2 * next];
      view.y = xy[2 * next + 1];
      changed();
    }
    setFocus(next);
    status.textContent = "Test image #" + next + ", " + P.classes[P.labels[next]].name +
      ", predicted " + P.classes[P.preds[next]].name;
  }

  canvas.addEventListener("keydown", function (ev) {
    var pan = 0.1 * size, handled = true;
    switch (ev.key) {
      case "+": case "=": zoomAt(1.5, size / 2, size / 2); break;
      case "-": case "_": zoomAt(1 / 1.5, size / 2, size / 2); break;
      case "0": reset(); break;
      case "ArrowLeft": view.x -= pan / pxPerUnit(); changed(); break;
      case "ArrowRight": view.x += pan / pxPerUnit(); changed(); break;
      case "ArrowUp": view.y += pan / pxPerUnit(); changed(); break;
      case "ArrowDown": view.y -= pan / pxPerUnit(); changed(); break;
      case "n": step(1); break;
      case "p": step(-1); break;
      case "Enter": openSample(focus); break;
      case "Escape": focus = -1; draw(); hideTip(); break;
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  root.querySelectorAll(".map-tools button").forEach(function (b) {
    b.addEventListener("click", function () {
      var action = b.getAttribute("data-action");
      if (action === "zoom-in") zoomAt(1.5, size / 2, size / 2);
      else if (action === "zoom-out") zoomAt(1 / 1.5, size / 2, size / 2);
      else if (action === "reset") reset();
      else if (action === "show-all") { hidden = {}; syncControls(); changed("All classes shown"); }
    });
  });
  legendButtons.forEach(function (b) {
    b.addEventListener("click", function () {
      var c = +b.getAttribute("data-class");
      hidden[c] = !hidden[c];
      syncControls();
      changed(P.classes[c].name + (hidden[c] ? " hidden" : " shown"));
    });
  });
  wrongBox.addEventListener("change", function () {
    wrongOnly = wrongBox.checked;
    changed(wrongOnly ? "Only misclassified images shown" : "All images shown");
  });
  window.addEventListener("resize", resize);

  sprite.onload = function () { if (focus >= 0 && !tip.hidden) drawThumb(focus); };
  sprite.src = root.getAttribute("data-sprite");

  readState(window.location.hash);
  syncControls();
  resize();
  updateLinks();
  // For tests and the curious: where a point is drawn, and the current view.
  window.CNNATLAS_MAP = {
    screenOf: screenOf,
    state: function () { return { view: view, hidden: hidden, wrongOnly: wrongOnly, focus: focus }; }
  };
})();
