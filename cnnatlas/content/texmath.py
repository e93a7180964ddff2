"""TeX formulas in prose (`$...$` inline, `$$...$$` on their own lines) typeset as MathML when
the site is built: no script, no web font, nothing fetched (browsers render MathML Core).

latex2mathml converts; its output is then cleaned to the MathML elements and presentation
attributes below (nh3): it copies `\\href` targets into attributes and `\\text{...}` into the page
unescaped, and a content file is user input.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=1024)  # a page's formulas are checked, rendered and searched
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


def tex_to_text(tex: str) -> str:
    """A formula's typeset characters, for plain-text places: "\\max(0, z_c)" -> "max(0,zc)".

    Raises TexError as `tex_to_mathml` does."""
    return html.unescape(re.sub(r"<[^>]+>", "", tex_to_mathml(tex, False)))
