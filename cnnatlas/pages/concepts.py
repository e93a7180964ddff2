"""Concept pages (issue 7): Markdown from `content/pages/concepts/`, an index, cross-links.

Each concept page shows its prose (links to pages this build lacks lose their link) and the
reading-list entries that name it. No JAX here.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..content import Prose, render_markdown
from ..render import Page
from ..site import Site


def pages(site: Site) -> Iterator[Page]:
    concepts: dict[str, Prose] = site.extra.get("concepts", {})
    known = site.extra.get("page_urls")
    index = site.url_for("concepts")
    yield Page(
        index,
        "concepts.html",
        {
            "title": "Concepts",
            "concepts": [(c, render_markdown(c.summary, index, known)) for c in concepts.values()],
        },
    )
    for c in concepts.values():
        url = site.url_for("concept", c.slug)
        yield Page(
            url,
            "concept.html",
            {
                "title": c.title,
                "concept": c,
                "prose": render_markdown(c.text, url, known),
                "others": [o for o in concepts.values() if o.slug != c.slug],
            },
        )
