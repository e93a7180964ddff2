"""Offline checks of a built site: every internal link, image and fragment resolves."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for attr in ("href", "src"):
            if a.get(attr) is not None:
                self.refs.append((tag, a[attr]))


def parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def broken_links(site: Path) -> list[str]:
    """Problems as 'page: ref (why)'; empty when every local reference resolves."""
    site = site.resolve()
    parsed = {p: parse(p) for p in site.rglob("*.html")}
    problems = []
    for page, links in sorted(parsed.items()):
        rel_page = page.relative_to(site)
        for tag, ref in links.refs:
            parts = urlsplit(ref)
            if parts.scheme in ("http", "https", "mailto"):
                if tag != "a":
                    problems.append(f"{rel_page}: {ref} (external asset)")
                continue
            if parts.scheme == "data":  # inline (report.html): nothing to resolve
                continue
            if parts.scheme or ref.startswith("//"):
                problems.append(f"{rel_page}: {ref} (unexpected scheme)")
                continue
            if ref.startswith("/"):
                problems.append(f"{rel_page}: {ref} (root-absolute)")
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if not target.is_relative_to(site):
                problems.append(f"{rel_page}: {ref} (leaves the site)")
            elif target.is_dir():
                problems.append(f"{rel_page}: {ref} (directory link; link to index.html)")
            elif not target.is_file():
                problems.append(f"{rel_page}: {ref} (missing)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{rel_page}: {ref} (no id '{parts.fragment}')")
    return problems


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
