"""Content from `content/`: the curated reading list (TOML) and prose pages (Markdown). No JAX.

One Markdown renderer for the whole site (`render_markdown`): CommonMark via markdown-it-py with
raw HTML off and only http(s), relative and `#fragment` links kept. The reading-list loader is
strict: every problem of the file is collected with its line and reported in one ContentError.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from .errors import ContentError

SHIPPED = Path(__file__).resolve().parent.parent / "content"  # fallback for configs elsewhere

KINDS = ("paper", "tool", "article", "course", "code", "video", "slides")
LANGUAGES = ("en", "zh")
STATUSES = ("live", "dead", "unknown")
ID_PREFIXES = {  # identifier scheme -> (pattern of the value, resolver URL)
    "arXiv": (r"\d{4}\.\d{4,5}(v\d+)?|[a-z-]+(\.[A-Z]{2})?/\d{7}", "https://arxiv.org/abs/"),
    "DOI": (r"10\.\d{4,9}/\S+", "https://doi.org/"),
    "ISBN": (r"[0-9X-]{10,17}", ""),
}
_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
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


# ------------------------------------------------------------------------------ Markdown


def safe_link(url: str) -> bool:
    """Links the site keeps: http(s), relative (no scheme, no '//host') and '#fragment'."""
    parts = urlsplit(url.strip())
    if parts.scheme:
        return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
    return not url.strip().startswith("//")


def render_markdown(
    text: str, page_url: str = "index.html", known: Collection[str] | None = None
) -> Markup:
    """Prose Markdown -> safe HTML: CommonMark, raw HTML escaped, unsafe links dropped.

    Args:
      text: Markdown; a leading `# Title` is dropped (the page has its own h1).
      page_url: the site-relative URL of the page it appears on (resolves relative links).
      known: site-relative URLs of the pages this build has; a relative link to any other page
        keeps its text but loses the link. None keeps every relative link.

    Links other than http(s), relative and '#fragment' (javascript:, data:, mailto: ...) are not
    turned into links; images other than relative ones become their alt text (no external assets).
    """
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = safe_link  # type: ignore[method-assign]
    tokens = md.parse(text)
    if len(tokens) >= 3 and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        tokens = tokens[3:]
    base = posixpath.dirname(page_url)
    for tok in tokens:
        if tok.type == "inline" and tok.children:
            tok.children = _filter_links(tok.children, base, known)
    return Markup(md.renderer.render(tokens, md.options, {}))


def _filter_links(children: list[Token], base: str, known: Collection[str] | None) -> list[Token]:
    kept: list[Token] = []
    depth = 0  # > 0 inside a link whose target this build lacks
    for child in children:
        ref = str(child.attrGet("href") or child.attrGet("src") or "")
        parts = urlsplit(ref)
        local = not parts.scheme and bool(parts.path)
        if child.type == "link_open" and local and known is not None:
            if posixpath.normpath(posixpath.join(base, parts.path)) not in known:
                depth += 1
                continue
        elif child.type == "link_close" and depth:
            depth -= 1
            continue
        elif child.type == "image" and not local:
            child = Token("text", "", 0, content=child.content)
        kept.append(child)
    return kept


@dataclass(frozen=True)
class Prose:
    """One Markdown page of `content/pages/<section>/<slug>.md`; `title` from its `# ` line."""

    slug: str
    title: str
    text: str
    path: Path

    @property
    def summary(self) -> str:
        """The first paragraph, as Markdown source, cut to whole sentences (for index pages)."""
        for block in self.text.split("\n\n"):
            block = " ".join(block.split())
            if block and not block.startswith(("#", "-", "`", "|", ">")):
                if not block.endswith((".", "!", "?")) and ". " in block:
                    block = block[: block.rindex(". ") + 1]  # a sentence that runs into a formula
                return block
        return ""


def load_prose(section: str, content_dir: Path | None = None) -> dict[str, Prose]:
    """Every `<slug>.md` of `<content_dir>/pages/<section>/`, else of the shipped content.

    Raises ContentError for a file name that is not a slug or a file without a `# Title` line.
    """
    folder = SHIPPED / "pages" / section
    if content_dir is not None and (content_dir / "pages" / section).is_dir():
        folder = content_dir / "pages" / section
    out = {}
    for path in sorted(folder.glob("*.md")):
        if not _SLUG.fullmatch(path.stem):
            raise ContentError(
                str(path), "file name must be a lowercase slug like 'receptive-field.md'"
            )
        text = path.read_text(encoding="utf-8")
        first = text.lstrip().split("\n", 1)[0]
        if not first.startswith("# "):
            raise ContentError(f"{path}:1", f"expected a '# Title' first line, got {first[:40]!r}")
        out[path.stem] = Prose(path.stem, first[2:].strip(), text, path)
    return out


# ------------------------------------------------------------------------------ reading list


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
        if not isinstance(t["slug"], str) or not _SLUG.fullmatch(t["slug"]):
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
    if not _SLUG.fullmatch(item["id"]):
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
