"""TeX formulas in prose (`$...$` inline, `$$...$$` on their own lines) typeset as MathML when
the site is built: no script, no web font, nothing fetched (browsers render MathML Core).

latex2mathml converts; its output is then cleaned to the MathML elements and presentation
attributes below (nh3): it copies `\\href` targets into attributes and `\\text{...}` into the page
unescaped, and a content file is user input.
"""

from __future__ import annotations

import html
import re

import nh3
from latex2mathml.converter import convert

# MathML Core presentation elements latex2mathml emits, and no attribute that can hold a URL,
# a script or a style
MATHML_TAGS = frozenset(
    "math mrow mi mn mo ms mtext mspace mfrac msqrt mroot msub msup msubsup munder mover "
    "munderover mtable mtr mtd mstyle mpadded mphantom menclose merror semantics".split()
)
MATHML_ATTRIBUTES = {
    "math": {"display"},
    "mi": {"mathvariant"},
    "mo": {
        "stretchy",
        "fence",
        "separator",
        "lspace",
        "rspace",
        "largeop",
        "movablelimits",
        "symmetric",
        "minsize",
        "maxsize",
        "form",
    },
    "mfrac": {"linethickness"},
    "mspace": {"width", "height", "depth"},
    "mstyle": {"displaystyle", "scriptlevel", "mathvariant"},
    "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "munder": {"accentunder"},
    "mover": {"accent"},
    "munderover": {"accent", "accentunder"},
    "mtable": {"columnalign", "rowspacing", "columnspacing"},
    "mtd": {"columnalign"},
}


class TexError(ValueError):
    """A formula latex2mathml cannot read."""


def tex_to_mathml(tex: str, display: bool) -> str:
    """One formula -> a sanitized `<math>` element (display="block" or "inline").

    Raises TexError (with latex2mathml's reason) for TeX it cannot convert."""
    try:
        mathml = convert(tex.strip(), display="block" if display else "inline")
    except Exception as e:  # latex2mathml raises its own and plain Python errors on bad TeX
        # latex2mathml's errors say what in their class name (ExtraLeftOrMissingRightError)
        words = re.sub(r"(?<!^)(?=[A-Z])", " ", type(e).__name__.removesuffix("Error")).lower()
        raise TexError(f"{words}: {e}" if str(e) else words) from e
    return nh3.clean(mathml, tags=set(MATHML_TAGS), attributes=MATHML_ATTRIBUTES, link_rel=None)


# a formula between single or double dollars, as the Markdown renderer reads them (no space
# inside the dollars, no digit outside: "$5 and $10" is money)
FORMULA = re.compile(r"(?<![\\\d])\$\$?(?=[^\s$])(.+?)(?<=[^\s\\])\$\$?(?!\d)", re.S)


def tex_to_text(markdown: str) -> str:
    """Markdown with each formula replaced by its typeset characters, for plain-text places
    (search results): "$\\max(0, z_c)$" -> "max(0,zc)". A formula that cannot be read stays."""

    def text(m: re.Match) -> str:
        try:
            return html.unescape(re.sub(r"<[^>]+>", "", tex_to_mathml(m.group(1), False)))
        except TexError:
            return m.group(0)

    return FORMULA.sub(text, markdown)
