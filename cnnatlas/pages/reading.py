"""The curated reading list (issue 7): `reading/index.html`, grouped by topic.

Each entry shows its title (original and English), authors, year, venue, identifiers, link,
note and the atlas pages that show what it contributes; pages this build lacks are listed as
plain text. No JAX here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..content import Entry, ReadingList
from ..render import Page
from ..site import Site

KIND_LABELS = {
    "paper": "paper",
    "tool": "tool",
    "article": "article",
    "course": "course notes",
    "code": "code",
    "video": "video",
    "slides": "slides",
}
LANGUAGE_LABELS = {"en": "English", "zh": "Chinese"}


def page_label(url: str, titles: Mapping[str, str]) -> str:
    """A short name for an atlas page: its title if this build has it, else from its path."""
    if url in titles:
        return titles[url]
    if url == "index.html":
        return "Model card"
    parts = [p for p in url.removesuffix("index.html").split("/") if p]
    return " / ".join(p.replace("_", " ").replace("-", " ") for p in parts).capitalize()


def shown_on(entry: Entry, site: Site) -> list[dict[str, Any]]:
    """[{"label", "url" (site-relative, or None where this build lacks the page)}]."""
    known = site.extra.get("page_urls") or frozenset()
    titles = site.extra.get("page_titles") or {}
    here = site.url_for("reading")
    return [
        {"label": page_label(u, titles), "url": u if u in known else None}
        for u in entry.page_urls
        if u != here
    ]


def pages(site: Site) -> Iterator[Page]:
    reading: ReadingList | None = site.extra.get("reading")
    groups = []
    if reading is not None:
        for topic, entries in reading.by_topic():
            if entries:
                groups.append(
                    {"topic": topic, "entries": [(e, shown_on(e, site)) for e in entries]}
                )
    yield Page(
        site.url_for("reading"),
        "reading.html",
        {
            "title": "Reading list",
            "groups": groups,
            "n": sum(len(g["entries"]) for g in groups),
            "kinds": KIND_LABELS,
            "languages": LANGUAGE_LABELS,
        },
    )
