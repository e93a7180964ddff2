"""Content from `content/`: prose pages (Markdown, `markdown.py`) and the curated reading list
(TOML, `reading.py`). No JAX."""

from .markdown import Prose, load_prose, render_markdown, safe_link
from .reading import (
    ID_PREFIXES,
    KINDS,
    LANGUAGES,
    SHIPPED,
    STATUSES,
    Entry,
    ReadingList,
    Topic,
    load_reading,
    page_url,
    reading_file,
)

__all__ = [
    "ID_PREFIXES",
    "KINDS",
    "LANGUAGES",
    "SHIPPED",
    "STATUSES",
    "Entry",
    "Prose",
    "ReadingList",
    "Topic",
    "load_prose",
    "load_reading",
    "page_url",
    "reading_file",
    "render_markdown",
    "safe_link",
]
