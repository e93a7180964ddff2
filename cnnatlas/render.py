"""Jinja2 rendering: StrictUndefined, autoescape, and a `url` function relative to the page."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .errors import OutputError


@dataclass(frozen=True)
class Page:
    """One HTML file: its site-relative URL, its template and the values the template shows."""

    url: str
    template: str
    context: dict[str, Any]


def relative(from_url: str, to_url: str) -> str:
    """A link from the page at `from_url` to `to_url` (both site-relative; '#frag' kept)."""
    target, _, frag = to_url.partition("#")
    rel = posixpath.relpath(target, posixpath.dirname(from_url) or ".")
    return rel + (f"#{frag}" if frag else "")


def environment(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = lambda v, d=3: f"{v:.{d}g}" if abs(v) < 1e4 else f"{v:.3e}"
    env.filters["pct"] = lambda v, d=1: f"{100 * v:.{d}f}%"
    return env


def render(env: jinja2.Environment, page: Page, common: dict[str, Any]) -> str:
    """Render one page; a template error names the page and the template."""
    try:
        template = env.get_template(page.template)
        return template.render(
            **common, **page.context, page_url=page.url, url=lambda to: relative(page.url, to)
        )
    except jinja2.TemplateError as e:
        raise OutputError(f"{page.template} ({page.url})", f"template failed: {e}") from e
