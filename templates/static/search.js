/* cnnatlas search (issue 8): results as you type, over search-index.js (a classic script, so it
   loads from file:// too). Keyboard: "/" focuses the box, ArrowUp/ArrowDown move through the
   results, Enter opens the highlighted (or first) one, Escape closes the list, then clears. */
(function () {
  "use strict";
  var form = document.querySelector("form.search");
  if (!form) return;
  var input = form.querySelector("input");
  var panel = form.querySelector(".search-panel");
  var list = form.querySelector('[role="listbox"]');
  var empty = form.querySelector(".search-empty");
  var live = form.querySelector(".search-live");
  var root = form.getAttribute("data-root") || "";
  var MAX = 12;
  var index = null, loading = false, shown = [], active = -1;

  function fold(s) {
    return String(s).normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function prepare(e) {
    return { title: e[0], url: e[1], kind: e[2], sub: e[3],
             key: fold(e[0]), rest: fold(e[2] + " " + e[3] + " " + e[4]) };
  }

  function load() {
    if (index || loading) return;
    loading = true;
    var s = document.createElement("script");
    s.src = form.getAttribute("data-index");
    s.onload = function () { index = (window.CNNATLAS_SEARCH || []).map(prepare); update(); };
    s.onerror = function () { loading = false; live.textContent = "The search index is missing."; };
    document.head.appendChild(s);
  }

  // Lower is better: the title starts with the term, a word of the title does, the title
  // contains it, the kind/subtitle/keywords contain it; -1 when a term matches nowhere.
  function score(e, terms) {
    var total = 0;
    for (var i = 0; i < terms.length; i++) {
      var t = terms[i], at = e.key.indexOf(t);
      if (at === 0) continue;
      if (at > 0) total += /[\s\-_·/(.]/.test(e.key.charAt(at - 1)) ? 1 : 2;
      else if (e.rest.indexOf(t) >= 0) total += 4;
      else return -1;
    }
    return total;
  }

  function open(on) {
    panel.hidden = !on;
    input.setAttribute("aria-expanded", on && shown.length ? "true" : "false");
  }

  function select(i) {
    var items = list.children;
    if (active >= 0 && items[active]) {
      items[active].classList.remove("active");
      items[active].setAttribute("aria-selected", "false");
    }
    active = i;
    if (i >= 0 && items[i]) {
      items[i].classList.add("active");
      items[i].setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", items[i].id);
      items[i].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function render(hits, total) {
    list.textContent = "";
    shown = hits;
    hits.forEach(function (e, i) {
      var a = document.createElement("a");
      a.id = "search-opt-" + i;
      a.href = root + e.url;
      a.tabIndex = -1;
      a.setAttribute("role", "option");
      a.setAttribute("aria-selected", "false");
      var t = document.createElement("span"), k = document.createElement("span");
      t.className = "search-title";
      t.textContent = e.title;
      k.className = "search-kind";
      k.textContent = e.kind;
      a.appendChild(t);
      a.appendChild(k);
      if (e.sub) {
        var s = document.createElement("span");
        s.className = "search-sub";
        s.textContent = e.sub;
        a.appendChild(s);
      }
      list.appendChild(a);
    });
    active = -1;
    input.removeAttribute("aria-activedescendant");
    list.hidden = !hits.length;
    empty.hidden = hits.length > 0;
    var more = total > hits.length ? " (showing " + hits.length + ")" : "";
    live.textContent = total ? total + " result" + (total === 1 ? "" : "s") + more : "No results";
    open(true);
  }

  function update() {
    var q = fold(input.value.trim());
    if (!q) { shown = []; list.textContent = ""; live.textContent = ""; open(false); return; }
    if (!index) { load(); return; }
    var terms = q.split(/\s+/), hits = [];
    for (var i = 0; i < index.length; i++) {
      var sc = score(index[i], terms);
      if (sc >= 0) hits.push([sc, i]);
    }
    hits.sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
    render(hits.slice(0, MAX).map(function (h) { return index[h[1]]; }), hits.length);
  }

  function go(i) {
    var a = list.children[i];
    if (a) window.location.href = a.href;
  }

  input.addEventListener("focus", function () { load(); if (input.value.trim()) update(); });
  input.addEventListener("input", update);
  input.addEventListener("keydown", function (ev) {
    var n = shown.length;
    if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && n) {
      ev.preventDefault();
      if (panel.hidden) open(true);
      var next = ev.key === "ArrowDown" ? active + 1 : (active < 0 ? n : active) - 1;
      select((next + n) % n);
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (n && !panel.hidden) go(active >= 0 ? active : 0);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      if (!panel.hidden) { open(false); select(-1); } else { input.value = ""; update(); }
    }
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });
  // keep the focus in the box while a result is clicked; the link then navigates by itself
  panel.addEventListener("mousedown", function (ev) { ev.preventDefault(); });
  form.addEventListener("focusout", function () {
    setTimeout(function () { if (!form.contains(document.activeElement)) open(false); }, 0);
  });
  document.addEventListener("keydown", function (ev) {
    var el = ev.target, tag = el && el.tagName;
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (el && el.isContentEditable)) return;
    ev.preventDefault();
    input.focus();
  });
  form.hidden = false;
})();
