"""The build report: what the build skipped or recomputed, so nothing goes unnoticed."""

from __future__ import annotations

from collections.abc import Iterator

from ..render import Page
from ..site import Site


def pages(site: Site) -> Iterator[Page]:
    skipped = [w for w in site.warnings if ": skipped: " in w]
    other = [w for w in site.warnings if w not in skipped]
    yield Page(
        site.url_for("build"),
        "build.html",
        {"title": "Build report", "skipped": skipped, "other": other},
    )
