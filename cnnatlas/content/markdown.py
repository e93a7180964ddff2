"""Prose pages (`content/pages/<section>/<slug>.md`) and the one Markdown renderer of the site:
CommonMark via markdown-it-py with raw HTML off and only http(s), relative and `#fragment` links
kept, and TeX between dollars typeset as MathML (texmath.py)."""

from __future__ import annotations

import functools
import posixpath
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markupsafe import Markup
from mdit_py_plugins.dollarmath import dollarmath_plugin

from ..errors import ContentError
from .reading import SHIPPED, SLUG
from .texmath import TexError, tex_to_mathml, tex_to_text


def safe_link(url: str) -> bool:
    """Links the site keeps: http(s), relative (no scheme, no '//host') and '#fragment'."""
    parts = urlsplit(url.strip())
    if parts.scheme:
        return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
    return not url.strip().startswith("//")


def _math(tex: str, options: dict) -> str:
    """A formula's MathML; one `load_prose` did not check (a summary cut mid-formula, a file
    changed since) that cannot be typeset shows as its source."""
    try:
        return tex_to_mathml(tex, options["display_mode"])
    except TexError:
        return f"<code>{escapeHtml(tex)}</code>"


@functools.cache  # one parser for the build: parse and render keep no state between calls
def _parser() -> MarkdownIt:
    """CommonMark, raw HTML off, unsafe links refused, `$tex$` and `$$tex$$` as math (a `$`
    next to a digit or a space is a dollar sign: "$5 and $10" stays text)."""
    md = MarkdownIt("commonmark", {"html": False})
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.use(dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False,
           allow_blank_lines=False, renderer=_math)  # fmt: skip
    return md


def formula_errors(text: str) -> list[str]:
    """'line N: $tex$: reason' for each formula of Markdown `text` that cannot be typeset."""
    problems = []
    for block in _parser().parse(text):
        inner = block.children if block.type == "inline" and block.children else [block]
        for tok in inner:
            if tok.type in ("math_inline", "math_block"):
                try:
                    tex_to_mathml(tok.content, tok.type == "math_block")
                except TexError as e:
                    line = block.map[0] + 1 if block.map else 0
                    problems.append(f"line {line}: ${' '.join(tok.content.split())}$: {e}")
    return problems


def inline_text(markdown: str) -> str:
    """Inline Markdown as plain text (link and image text kept, markup dropped), each formula as
    its typeset characters, found by the renderer's own rules; one that cannot be read stays as
    written."""
    out = []
    for tok in _parser().parseInline(markdown)[0].children or []:
        if tok.type == "math_inline":
            try:
                out.append(tex_to_text(tok.content))
            except TexError:
                out.append(f"${tok.content}$")
        else:
            out.append(" " if tok.type in ("softbreak", "hardbreak") else tok.content)
    return "".join(out)


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
    `$tex$` (inline) and `$$tex$$` (display) become sanitized MathML.
    """
    md = _parser()
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
            if block and not block.startswith(("#", "-", "`", "|", ">", "$$")):
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
        if not SLUG.fullmatch(path.stem):
            raise ContentError(
                str(path), "file name must be a lowercase slug like 'receptive-field.md'"
            )
        text = path.read_text(encoding="utf-8")
        first = text.lstrip().split("\n", 1)[0]
        if not first.startswith("# "):
            raise ContentError(f"{path}:1", f"expected a '# Title' first line, got {first[:40]!r}")
        problems = formula_errors(text)
        if problems:
            raise ContentError(
                str(path),
                f"{len(problems)} formula(s) could not be typeset:\n  " + "\n  ".join(problems)
                + "\n  write TeX that latex2mathml reads, e.g. $\\frac{a}{b}$ or $x_i^2$",
            )  # fmt: skip
        out[path.stem] = Prose(path.stem, first[2:].strip(), text, path)
    return out


# ------------------------------------------------------------------------------ reading list
