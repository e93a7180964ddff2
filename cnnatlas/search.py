"""Client-side search (issue 8): one index of the whole atlas, shipped as `search-index.js`.

The index is built from the pages this build renders (whatever page types `PAGE_TYPES` holds), so
a new page type is searchable without being listed here, plus two kinds of in-page targets: the
units of each spatial stage (anchors on its layer page, unless the build has unit pages) and the
reading-list entries (anchors on the reading page). It is a classic script that sets
`window.CNNATLAS_SEARCH`, so it loads from file://, where fetch() is blocked;
`templates/static/search.js` matches as you type. No JAX here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .content.markdown import inline_text
from .render import Page
from .site import ClassInfo, LayerInfo, MethodInfo, SampleInfo, Site

INDEX_PATH = "search-index.js"  # site-relative; base.html loads it on the first focus of the box
GLOBAL = "CNNATLAS_SEARCH"
SKIP_TEMPLATES = frozenset({"404.html"})
# Equal matches are listed in this order of kinds (template names; unknown kinds come last).
KIND_ORDER = (
    "home", "classes", "class", "layers", "layer", "units", "unit", "methods", "method",
    "concepts", "concept", "maps", "map", "explain", "samples", "sample", "misclassified",
    "reading", "reference", "build",
)  # fmt: skip
KIND_LABELS = {"home": "model", "reading": "reading list", "reference": "reading"}

Entry = tuple[str, str, str, str, str]  # title, site-relative url, kind, subtitle, keywords
CONTEXT_KEYS = ("title", "s", "layer", "cls", "method", "concept")  # what `entries` reads


def slim(page: Page) -> Page:
    """The page with only the context `entries` reads (its title and entities), so that a build
    can list every page for the index without holding every page's context (issue 10)."""
    ctx = page.context
    return Page(page.url, page.template, {k: ctx[k] for k in CONTEXT_KEYS if k in ctx})


def _plain(markdown: str, limit: int = 110) -> str:
    """Markdown source -> one short plain-text line (links keep their text)."""
    text = " ".join(re.sub(r"[*_`$#>|]", "", inline_text(markdown)).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def describe(page: Page, site: Site) -> tuple[str, str]:
    """(subtitle, keywords) of a page from the entities in its context; ("", "") if none."""
    ctx = page.context
    sub: list[str] = []
    words: list[str] = []
    s = ctx.get("s")
    if isinstance(s, SampleInfo):
        true = site.class_name(s.label) if s.label is not None else "your image"
        sub.append(f"{true} → {site.class_name(s.pred)}")
        words += [s.source, {True: "correct", False: "wrong misclassified", None: ""}[s.correct]]
    layer = ctx.get("layer")
    if isinstance(layer, LayerInfo):
        sub.append(f"{layer.kind} · {'×'.join(map(str, layer.shape))}")
    cls = ctx.get("cls")
    if isinstance(cls, ClassInfo):
        sub.append(f"class {cls.index}")
        words.append(cls.slug)
    method = ctx.get("method")
    if isinstance(method, MethodInfo):
        sub.append(method.paper)
        words.append(method.name)
    concept = ctx.get("concept")
    if concept is not None and hasattr(concept, "summary"):
        sub.append(_plain(concept.summary))
        words.append(getattr(concept, "slug", ""))
    return " · ".join(x for x in sub if x), " ".join(w for w in words if w)


def _units(site: Site, urls: set[str]) -> Iterable[Entry]:
    """One entry per unit of each spatial stage: the `#unit-<k>` anchor of its layer page."""
    for layer in site.layers:
        url = site.url_for("layer", layer.name)
        if layer.is_map and url in urls:
            for k in range(layer.units):
                yield (f"{layer.name} unit {k}", f"{url}#unit-{k}", "unit", layer.kind, "channel")


def _reading(site: Site, urls: set[str]) -> Iterable[Entry]:
    """One entry per reading-list entry: its anchor on the reading page."""
    reading = site.extra.get("reading")
    url = site.url_for("reading")
    if reading is None or url not in urls:
        return
    for e in reading.entries:
        authors = e.authors[0] + (" et al." if len(e.authors) > 1 else "") if e.authors else ""
        sub = " · ".join(str(x) for x in (authors, e.year, e.kind) if x)
        words = " ".join([e.title_en, " ".join(e.authors), e.venue, " ".join(e.ids), e.topic])
        yield (e.title, f"{url}#{e.id}", "reference", sub, words)


def entries(site: Site, pages: Iterable[tuple[str, Page]]) -> list[Entry]:
    """The search index: every rendered page (by page type) plus unit and reading-list anchors.

    Args:
      pages: (page type, Page) for every page of the build, in rendering order.
    Returns:
      [(title, url, kind, subtitle, keywords)], sorted by KIND_ORDER, stable otherwise.
    """
    out: list[Entry] = []
    types: set[str] = set()
    for page_type, page in pages:
        types.add(page_type)
        if page.template in SKIP_TEMPLATES:
            continue
        title = str(page.context.get("title") or page.url)
        kind = page.template.removesuffix(".html")
        sub, words = describe(page, site)
        out.append((title, page.url, kind, sub, f"{page_type} {words}".strip()))
    urls = {e[1] for e in out}
    if "units" not in types and not any(u.startswith("units/") for u in urls):
        # unit pages (issue 5), where the build has them, replace the layer-page anchors
        out.extend(_units(site, urls))
    out.extend(_reading(site, urls))
    seen: set[str] = set()
    unique = [e for e in out if not (e[1] in seen or seen.add(e[1]))]
    rank = {k: i for i, k in enumerate(KIND_ORDER)}
    unique.sort(key=lambda e: rank.get(e[2], len(rank)))
    return [(t, u, KIND_LABELS.get(k, k), s, w) for t, u, k, s, w in unique]


def index_js(items: list[Entry]) -> str:
    """The index as a classic script: `window.CNNATLAS_SEARCH = [[title, url, kind, sub, kw]]`."""
    data = json.dumps([list(e) for e in items], ensure_ascii=False, separators=(",", ":"))
    return f"window.{GLOBAL} = {data};\n"


def parse_index_js(text: str) -> list[list[Any]]:
    """The entries of a written `search-index.js` (for tests and tools)."""
    prefix = f"window.{GLOBAL} = "
    if not text.startswith(prefix):
        raise ValueError(f"not a search index: expected it to start with {prefix!r}")
    return json.loads(text[len(prefix) :].rstrip().removesuffix(";"))
