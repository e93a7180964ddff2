/* cnnatlas explain page, part 2 of 4: small widgets the detail views share.
   mapFigure: a heat map with a highlighted window, clickable and keyboard-driven.
   stepper:   previous / play / next through the cells of an output map.
   numTable:  a small grid of numbers with coloured backgrounds. */
(function () {
  "use strict";
  var X = window.CnnExplain, C = X.core, el = C.el;

  /* A map (h, w) drawn at `px` CSS pixels per cell, with a window box (set with .box).
     opts: {lo, hi, signed, gray, label, onPick(i, j) (makes it focusable: arrows / click)} */
  function mapFigure(model, map, px, opts) {
    var h = map.shape[0], w = map.shape[1];
    var canvas = el("canvas", { class: "px", width: w, height: h, "aria-hidden": "true" });
    canvas.style.width = w * px + "px";
    canvas.style.height = h * px + "px";
    C.draw(model, canvas, map, opts.lo, opts.hi, opts.signed, opts.gray);
    var win = el("div", { class: "win", hidden: true });
    var frame = el("div", { class: "mapframe" }, [canvas, win]);
    var fig = el("figure", { class: "mapfig" }, [frame, el("figcaption", { text: opts.caption || "" })]);
    var cur = [0, 0];
    if (opts.onPick) {
      frame.setAttribute("tabindex", "0");
      frame.setAttribute("role", "group");
      frame.setAttribute("aria-roledescription", "map");
      frame.classList.add("pickable");
      frame.addEventListener("click", function (ev) {
        var r = canvas.getBoundingClientRect();
        var i = Math.floor((ev.clientY - r.top) / r.height * h), j = Math.floor((ev.clientX - r.left) / r.width * w);
        opts.onPick(Math.max(0, Math.min(h - 1, i)), Math.max(0, Math.min(w - 1, j)));
      });
      frame.addEventListener("keydown", function (ev) {
        var d = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] }[ev.key];
        if (ev.key === "Home") d = [-cur[0], -cur[1]];
        if (ev.key === "End") d = [h - 1 - cur[0], w - 1 - cur[1]];
        if (!d) return;
        ev.preventDefault();
        opts.onPick(Math.max(0, Math.min(h - 1, cur[0] + d[0])), Math.max(0, Math.min(w - 1, cur[1] + d[1])));
      });
    }
    return {
      el: fig,
      frame: frame,
      /* Show the box over rows i0..i0+bh-1, columns j0..j0+bw-1 (may hang over the edge: padding). */
      box: function (i0, j0, bh, bw) {
        win.hidden = false;
        win.style.top = (i0 / h) * 100 + "%";
        win.style.left = (j0 / w) * 100 + "%";
        win.style.height = (bh / h) * 100 + "%";
        win.style.width = (bw / w) * 100 + "%";
      },
      cell: function (i, j) {  // the current cell, for the keyboard, and the accessible name
        cur = [i, j];
        if (opts.onPick) frame.setAttribute("aria-label", (opts.label || "map") + ": row " + i + ", column " + j + ". Arrow keys move, Home and End jump.");
      }
    };
  }

  /* Previous / Play / Next over the h × w cells in reading order. onMove(i, j) redraws. */
  function stepper(h, w, onMove, what) {
    var pos = 0, timer = null;
    var status = el("span", { class: "step-pos" });
    var play = el("button", { type: "button", class: "btn", "aria-pressed": "false", text: "▶ Play",
      onclick: function () { if (timer) stop(); else start(); } });
    function go(p) {
      pos = ((p % (h * w)) + h * w) % (h * w);
      status.textContent = (what || "output cell") + " [" + Math.floor(pos / w) + ", " + (pos % w) + "] · " + (pos + 1) + " of " + h * w;
      onMove(Math.floor(pos / w), pos % w);
    }
    function start() {
      timer = setInterval(function () { go(pos + 1); }, 450);
      play.textContent = "❚❚ Pause"; play.setAttribute("aria-pressed", "true");
    }
    function stop() {
      if (timer) clearInterval(timer);
      timer = null;
      play.textContent = "▶ Play"; play.setAttribute("aria-pressed", "false");
    }
    var bar = el("div", { class: "stepper", role: "group", "aria-label": "Step through the " + (what || "output cells") }, [
      el("button", { type: "button", class: "btn", text: "◀ Previous", onclick: function () { stop(); go(pos - 1); } }),
      play,
      el("button", { type: "button", class: "btn", text: "Next ▶", onclick: function () { stop(); go(pos + 1); } }),
      status
    ]);
    return {
      el: bar,
      set: function (i, j) { go(i * w + j); },
      stop: stop,
      pos: function () { return [Math.floor(pos / w), pos % w]; }
    };
  }

  /* A rows × cols table of numbers. Returns {el, set(values, scale, flags)}: scale = {lo, hi,
     signed}; flags[q] adds class "pad" (padding cell) or "max" (chosen maximum). */
  function numTable(model, rows, cols, caption) {
    var cells = [], body = el("tbody");
    for (var r = 0; r < rows; r++) {
      var tr = el("tr");
      for (var c = 0; c < cols; c++) { var td = el("td"); cells.push(td); tr.appendChild(td); }
      body.appendChild(tr);
    }
    var table = el("table", { class: "nums" }, [caption ? el("caption", { text: caption }) : null, body]);
    return {
      el: table,
      set: function (values, scale, flags) {
        values.forEach(function (v, q) {
          var td = cells[q];
          td.textContent = C.fmt(v);
          td.title = String(v);
          td.className = (flags && flags[q]) || "";
          if (scale && scale.gray) {  // a model input in [0, 1]: the pixel's own grey
            var g = Math.max(0, Math.min(255, Math.round(v * 255)));
            td.style.background = "rgb(" + g + "," + g + "," + g + ")";
            td.style.color = C.inkOn(g, g, g);
          } else if (scale) {
            td.style.background = C.colour(model, v, scale.lo, scale.hi, scale.signed);
            td.style.color = C.textOn(model, v, scale.lo, scale.hi, scale.signed);
          }
        });
      }
    };
  }

  function sym(values) {  // a symmetric scale covering the values
    var m = 0;
    values.forEach(function (v) { m = Math.max(m, Math.abs(v)); });
    return { lo: -m, hi: m, signed: true };
  }

  X.widgets = { mapFigure: mapFigure, stepper: stepper, numTable: numTable, sym: sym };
})();
