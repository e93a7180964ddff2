"""HTML snippets the pages repeat thousands of times, as Jinja globals written in Python.

A Jinja macro call costs ~20 µs of interpreter overhead: `px` ran 43k times and `attr_map` 7k
times a build, ~40% of rendering (issue 10). Each function here writes exactly what its former
macro in templates/_macros.html or _attribution.html wrote (the golden build compares bytes), and
escapes every value the way autoescape does. They read the page's `url` from the template
context, so the offline report's data-URI `url` works unchanged.
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

# markupsafe's replacements, as one `str.translate` table: `escape` builds a Markup object per
# value (~1 µs; ~200k values a build); these snippets only join plain strings.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})


def escape(v: Any) -> str:
    """`markupsafe.escape(v)` as a plain str: safe markup (`__html__`) is kept as it is."""
    if type(v) is str:
        return v.translate(_ESCAPES)
    if hasattr(v, "__html__"):
        return v.__html__()
    return str(v).translate(_ESCAPES)


def num(v: float, d: int = 3) -> str:
    """The `num` filter: d significant digits, scientific notation from 1e4 on."""
    return f"{v:.{d}g}" if abs(v) < 1e4 else f"{v:.3e}"


def pct(v: float, d: int = 1) -> str:
    """The `pct` filter: a fraction as a percentage with d decimals."""
    return f"{100 * v:.{d}f}%"


def _px(ctx: jinja2.runtime.Context, src: str, alt: str, size: Any = 112, cls: str = "") -> str:
    u, a, s, c = escape(ctx["url"](src)), escape(alt), escape(size), escape(cls)
    tail = f'width="{s}" height="{s}" loading="lazy">'
    return f'<img class="px {c}" src="{u}" alt="{a}" {tail}'


def _colorbar(ctx: jinja2.runtime.Context, lo: float, hi: float, signed: bool, label: Any) -> str:
    bar = ctx["url"]("img/colorbar-" + ("diverging" if signed else "sequential") + ".png")
    lo_s, hi_s = escape(num(lo)), escape(num(hi))
    return (
        f'<span class="cbar" role="img" aria-label="colour scale {escape(label)} from {lo_s} '
        f'to {hi_s}">\n  <span class="cbar-lo">{lo_s}</span>\n  <img src="{escape(bar)}" alt="" '
        f'width="96" height="8">\n  <span class="cbar-hi">{hi_s}</span>\n</span>'
    )


@jinja2.pass_context
def px(ctx: jinja2.runtime.Context, src: str, alt: str, size: Any = 112, cls: str = "") -> Markup:
    """`{{ px(src, alt, size) }}`: a site image at `size` CSS pixels (pixelated by style.css)."""
    return Markup(_px(ctx, src, alt, size, cls))


@jinja2.pass_context
def colorbar(
    ctx: jinja2.runtime.Context, lo: float, hi: float, signed: bool, label: Any = ""
) -> Markup:
    """`{{ colorbar(lo, hi, signed, label) }}`: a map's colour scale, lo and hi at its ends."""
    return Markup(_colorbar(ctx, lo, hi, signed, label))


_FAITH = (
    '<span class="small faith-auc" title="deletion AUC (lower = more faithful) and insertion AUC '
    '(higher = more faithful) of this map">del {} · ins {}</span>'
)
_DIAG_COMPACT = (
    '<span class="small diag" title="completeness: sum of the attributions {}, '
    'f(x) − f(baseline) {}">error {}</span>'
)
_DIAG = (
    '<span class="small diag" title="completeness: the attributions should add up to '
    'f(x) − f(baseline)">Σ {} · Δf {} · error {}</span>'
)


@jinja2.pass_context
def attr_map(
    ctx: jinja2.runtime.Context,
    cell: dict | None,
    variant: Any,
    what: Any,
    size: Any = 112,
    compact: bool = False,
) -> Markup:
    """`{{ attr_map(cell, variant, what, size, compact) }}`: one attribution cell (figures.py's
    {"img": {scope: path}, "range": {scope: (lo, hi)}, "diag": {...}, "faith"?}) in every
    colour scope, with its scale, faithfulness AUCs and completeness check."""
    if not cell:
        return Markup('<span class="small">not computed</span>')
    out = ['<span class="attr">\n']
    ranges = cell["range"]
    for scope, src in cell["img"].items():
        r = ranges[scope]
        alt = f"{escape(variant.title)} for {escape(what)} ({escape(scope)} scale)"
        out.append(f'<span class="scope-{escape(scope)}">{_px(ctx, src, Markup(alt), size)}\n')
        if compact:
            out.append(f'<span class="small">{escape(num(r[0]))} … {escape(num(r[1]))}</span>')
        else:
            out.append(_colorbar(ctx, r[0], r[1], variant.method.signed, variant.title))
        out.append("</span>\n")
    if "faith" in cell:
        f = cell["faith"]
        out.append(_FAITH.format(escape(f"{f['deletion']:.3f}"), escape(f"{f['insertion']:.3f}")))
    d = cell["diag"]
    if d and "error" in d:
        parts = (escape(num(d["sum"])), escape(num(d["delta"])), escape(pct(d["error"], 2)))
        out.append((_DIAG_COMPACT if compact else _DIAG).format(*parts))
    out.append("</span>")
    return Markup("".join(out))


GLOBALS = {"px": px, "colorbar": colorbar, "attr_map": attr_map}
FILTERS = {"num": num, "pct": pct}
