"""The curated reading list (`content/reading.toml`). The loader is strict: every problem of
the file is collected with its line and reported in one ContentError."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ContentError

SHIPPED = Path(__file__).resolve().parents[2] / "content"  # fallback for configs elsewhere

KINDS = ("paper", "tool", "article", "course", "code", "video", "slides")
LANGUAGES = ("en", "zh")
STATUSES = ("live", "dead", "unknown")
ID_PREFIXES = {  # identifier scheme -> (pattern of the value, resolver URL)
    "arXiv": (r"\d{4}\.\d{4,5}(v\d+)?|[a-z-]+(\.[A-Z]{2})?/\d{7}", "https://arxiv.org/abs/"),
    "DOI": (r"10\.\d{4,9}/\S+", "https://doi.org/"),
    "ISBN": (r"[0-9X-]{10,17}", ""),
}
SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_PAGE = re.compile(r"(?:[a-z0-9_-]+/)+|(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.html")
_REQUIRED = (
    "id",
    "topic",
    "title",
    "authors",
    "url",
    "kind",
    "language",
    "status",
    "note",
    "pages",
)
_OPTIONAL = ("title_en", "year", "venue", "ids", "seeds")


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    intro: str


@dataclass(frozen=True)
class Entry:
    """One resource. `pages` are site-relative slugs ('methods/gradcam/', 'index.html')."""

    id: str
    topic: str
    title: str
    authors: tuple[str, ...]
    url: str
    kind: str
    language: str
    status: str
    note: str
    pages: tuple[str, ...]
    title_en: str = ""
    year: int | None = None
    venue: str = ""
    ids: tuple[str, ...] = ()
    seeds: tuple[str, ...] = ()
    line: int = 0

    @property
    def page_urls(self) -> tuple[str, ...]:
        return tuple(page_url(p) for p in self.pages)

    @property
    def id_links(self) -> tuple[tuple[str, str], ...]:
        """(identifier, resolver URL or "") per identifier, e.g. ('arXiv:1610.02391', 'https://...')."""
        out = []
        for ident in self.ids:
            scheme, _, value = ident.partition(":")
            out.append((ident, ID_PREFIXES[scheme][1] + value if ID_PREFIXES[scheme][1] else ""))
        return tuple(out)


@dataclass(frozen=True)
class ReadingList:
    topics: tuple[Topic, ...]
    entries: tuple[Entry, ...]
    path: Path

    def by_topic(self) -> list[tuple[Topic, list[Entry]]]:
        return [(t, [e for e in self.entries if e.topic == t.slug]) for t in self.topics]

    def by_page(self) -> dict[str, list[Entry]]:
        """{site-relative page URL: entries that name it}, in reading-list order."""
        out: dict[str, list[Entry]] = {}
        for e in self.entries:
            for url in e.page_urls:
                out.setdefault(url, []).append(e)
        return out


def page_url(slug: str) -> str:
    """A reading-list page slug as a site-relative URL: 'methods/gradcam/' -> '.../index.html'."""
    return slug if slug.endswith(".html") else slug + "index.html"


def load_reading(path: Path, warn: Callable[[str], None] | None = None) -> ReadingList:
    """Read and validate `reading.toml`; every problem is reported at once, with its line.

    Raises:
      ContentError: `<path>: N problem(s): <path>:<line>: entry '<id>': <field>: ...`.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except OSError as e:
        raise ContentError(str(path), f"cannot read the reading list ({e})") from e
    except tomllib.TOMLDecodeError as e:
        raise ContentError(str(path), f"not valid TOML: {e}") from e
    lines = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == "[[entries]]"]
    problems: list[str] = []
    for key in sorted(set(raw) - {"topics", "entries"}):
        problems.append(f"{path}: unknown top-level key '{key}'; expected topics, entries")
    topics = _topics(raw.get("topics", []), path, problems)
    slugs = {t.slug for t in topics}
    entries, seen_ids, seen_urls = [], set(), {}
    for n, item in enumerate(raw.get("entries", [])):
        line = lines[n] if n < len(lines) else 0
        rid = item.get("id") if isinstance(item, dict) else None
        if isinstance(rid, str) and rid in seen_ids:
            problems.append(f"{path}:{line}: entry '{rid}': id: duplicate; ids must be unique")
        seen_ids.add(rid)
        e = _entry(item, slugs, f"{path}:{line}", problems, line)
        if e is None:
            continue
        if e.url in seen_urls and warn is not None:
            warn(f"{path}:{line}: entry '{e.id}' has the same url as '{seen_urls[e.url]}'")
        seen_urls.setdefault(e.url, e.id)
        entries.append(e)
    if not entries and not problems:
        problems.append(f"{path}: no [[entries]]")
    if problems:
        raise ContentError(str(path), f"{len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return ReadingList(tuple(topics), tuple(entries), path)


def _topics(items: Any, path: Path, problems: list[str]) -> list[Topic]:
    out: list[Topic] = []
    if not isinstance(items, list) or not items:
        problems.append(f"{path}: expected at least one [[topics]] table")
        return out
    for i, t in enumerate(items):
        where = (
            f"{path}: topic {t.get('slug', i)!r}" if isinstance(t, dict) else f"{path}: topic {i}"
        )
        if not isinstance(t, dict) or set(t) != {"slug", "title", "intro"}:
            problems.append(f"{where}: expected exactly the keys slug, title, intro")
            continue
        if not isinstance(t["slug"], str) or not SLUG.fullmatch(t["slug"]):
            problems.append(f"{where}: slug: expected a lowercase slug, got {t['slug']!r}")
        elif any(o.slug == t["slug"] for o in out):
            problems.append(f"{where}: slug: duplicate")
        elif all(isinstance(t[k], str) and t[k].strip() for k in ("title", "intro")):
            out.append(Topic(t["slug"], t["title"], t["intro"]))
        else:
            problems.append(f"{where}: title and intro must be non-empty strings")
    return out


def _entry(item: Any, topics: set[str], at: str, problems: list[str], line: int) -> Entry | None:
    if not isinstance(item, dict):
        problems.append(f"{at}: expected a table")
        return None
    where = f"{at}: entry {item.get('id', '?')!r}"
    bad = len(problems)

    def fail(field: str, msg: str) -> None:
        problems.append(f"{where}: {field}: {msg}")

    for k in _REQUIRED:
        if k not in item:
            fail(k, "missing (required)")
    for k in sorted(set(item) - set(_REQUIRED) - set(_OPTIONAL)):
        fail(k, f"unknown field; expected one of {', '.join(_REQUIRED + _OPTIONAL)}")
    if len(problems) > bad:
        return None
    for k in ("id", "topic", "title", "url", "kind", "language", "status", "note"):
        if not isinstance(item[k], str) or not item[k].strip():
            fail(k, f"expected a non-empty string, got {item[k]!r}")
    for k in ("title_en", "venue"):
        if k in item and (not isinstance(item[k], str) or not item[k].strip()):
            fail(k, f"expected a non-empty string, got {item[k]!r}")
    for k in ("authors", "pages", "ids", "seeds"):
        v = item.get(k, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
            fail(k, f"expected a list of non-empty strings, got {v!r}")
    if len(problems) > bad:
        return None
    if not SLUG.fullmatch(item["id"]):
        fail("id", f"expected a lowercase slug like 'selvaraju2017-gradcam', got {item['id']!r}")
    if item["topic"] not in topics:
        fail(
            "topic", f"unknown topic {item['topic']!r}; expected one of {', '.join(sorted(topics))}"
        )
    parts = urlsplit(item["url"])
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", item["url"]):
        fail("url", f"expected an http(s) URL without spaces, got {item['url']!r}")
    for k, allowed in (("kind", KINDS), ("language", LANGUAGES), ("status", STATUSES)):
        if item[k] not in allowed:
            fail(k, f"expected one of {', '.join(allowed)}, got {item[k]!r}")
    if item["language"] != "en" and "title_en" not in item:
        fail("title_en", "required for a non-English title (an English translation)")
    year = item.get("year")
    if year is not None and (type(year) is not int or not 1900 <= year <= 2100):
        fail("year", f"expected a year like 2017, got {year!r}")
    if not item["pages"]:
        fail("pages", "expected at least one atlas page, e.g. 'reading/'")
    for p in item["pages"]:
        if not _PAGE.fullmatch(p):
            fail("pages", f"expected site-relative slugs like 'methods/gradcam/', got {p!r}")
    for ident in item.get("ids", []):
        scheme, _, value = ident.partition(":")
        if scheme not in ID_PREFIXES or not re.fullmatch(ID_PREFIXES[scheme][0], value):
            fail("ids", f"expected e.g. 'arXiv:1610.02391' or 'DOI:10.1109/...', got {ident!r}")
    for seed in item.get("seeds", []):
        if not re.fullmatch(r"\d{3}", seed):
            fail("seeds", f"expected three-digit seed numbers like '001', got {seed!r}")
    if len(problems) > bad:
        return None
    return Entry(
        id=item["id"],
        topic=item["topic"],
        title=item["title"].strip(),
        authors=tuple(item["authors"]),
        url=item["url"],
        kind=item["kind"],
        language=item["language"],
        status=item["status"],
        note=" ".join(item["note"].split()),
        pages=tuple(item["pages"]),
        title_en=item.get("title_en", ""),
        year=year,
        venue=item.get("venue", ""),
        ids=tuple(item.get("ids", [])),
        seeds=tuple(item.get("seeds", [])),
        line=line,
    )


def reading_file(content_dir: Path) -> Path:
    """`<content_dir>/reading.toml`, else the reading list shipped with cnnatlas."""
    own = content_dir / "reading.toml"
    return own if own.is_file() else SHIPPED / "reading.toml"
