"""Jinja2 rendering: StrictUndefined, autoescape, and a `url` function relative to the page."""

from __future__ import annotations

import contextlib
import functools
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from . import snippets
from .errors import OutputError


@dataclass(frozen=True)
class Page:
    """One HTML file: its site-relative URL, its template and the values the template shows."""

    url: str
    template: str
    context: dict[str, Any]


@functools.lru_cache(maxsize=65536)
def _relpath(target: str, start: str) -> str:
    """posixpath.relpath(target, start) for clean site-relative paths ("a/b/c.html", "a/b"),
    by comparing path parts: relpath's two abspath() calls were ~2.5 s of a rebuild (issue 10)."""
    t, s = target.split("/"), start.split("/") if start else []
    if any(p in ("", ".", "..") for p in (*t, *s)):  # not clean: leave it to the library
        return posixpath.relpath(target, start or ".")
    n = 0
    for a, b in zip(t, s, strict=False):
        if a != b:
            break
        n += 1
    return "/".join([".."] * (len(s) - n) + t[n:]) or "."


def relative(from_url: str, to_url: str) -> str:
    """A link from the page at `from_url` to `to_url` (both site-relative; '#frag' kept)."""
    target, _, frag = to_url.partition("#")
    rel = _relpath(target, posixpath.dirname(from_url))
    return rel + (f"#{frag}" if frag else "")


def linker(from_url: str) -> Callable[[str], str]:
    """`relative(from_url, ·)` for one page, its folder split once: a link into another top-level
    folder is "../" × depth + target (most links: images), anything else goes to `relative`
    (~85k links a build, issue 10)."""
    start = posixpath.dirname(from_url)
    head = start.split("/", 1)[0] + "/" if start else ""
    up = "../" * (start.count("/") + 1) if start else ""

    def url(to: str) -> str:
        if (
            to
            and to[0] != "/"
            and to[-1] != "/"
            and "#" not in to
            and "//" not in to
            and "/." not in "/" + to
            and not (to + "/").startswith(head or "\0")
        ):
            return up + to
        return relative(from_url, to)

    return url


def environment(template_dir: Path, bytecode_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja environment; `bytecode_dir` keeps compiled templates between builds (keyed by
    each template's source: ~0.2 s of a rebuild, issue 10)."""
    cache = None
    if bytecode_dir is not None:
        Path(bytecode_dir).mkdir(parents=True, exist_ok=True)
        cache = jinja2.FileSystemBytecodeCache(str(bytecode_dir))
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        bytecode_cache=cache,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(snippets.FILTERS)
    env.globals.update(snippets.GLOBALS)  # px, colorbar, attr_map: Python, not macros
    return env


def render(env: jinja2.Environment, page: Page, common: dict[str, Any]) -> str:
    """Render one page; a template error names the page and the template."""
    try:
        template = env.get_template(page.template)
        return template.render(**common, **page.context, page_url=page.url, url=linker(page.url))
    except jinja2.TemplateError as e:
        raise OutputError(f"{page.template} ({page.url})", f"template failed: {e}") from e


def preload(env: jinja2.Environment) -> None:
    """Compile every .html template now (one that fails to compile is left for `render` to
    report, if a page uses it)."""
    for name in env.list_templates(extensions=["html"]):
        with contextlib.suppress(jinja2.TemplateError):
            env.get_template(name)
