"""The offline report (issue 8): `report.html`, ONE self-contained file to e-mail or attach.

Model card, accuracy and confusion matrix, training curves, the methods used, and per sample its
prediction with Grad-CAM and the other attribution maps of the predicted (and true) class. Every
image is the site's own PNG inlined as a `data:` URI; the CSS (static/style.css plus the report's
own) and the little JavaScript are inline; links only point inside the file (`#...`). Written by
`python build.py --report` or `[site] report = true`. No JAX here.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from .errors import OutputError
from .pages import home
from .pages.methods import grid
from .render import Page
from .site import Site, img_path, topk

REPORT_PATH = "report.html"
MAP_SCOPE = "map"  # each map on its own colour scale, as the sample pages show by default


def data_uri(rel: str, raw: bytes) -> str:
    """`data:<mime>;base64,...` for a site file (the mime type from its suffix)."""
    mime = mimetypes.guess_type(rel)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def sample_rows(site: Site) -> list[dict[str, Any]]:
    """Per sample: prediction, top-k and, per shown class, its attribution maps (Grad-CAM first)."""
    out = []
    for s in site.samples:
        same = s.label is None or s.label == s.pred
        focus = [("predicted" if s.label is None or not same else "predicted = true", s.pred)]
        focus += [] if same else [("true", s.label)]
        rows = grid(site, s.id, [c for _, c in focus])
        rows.sort(key=lambda r: r["variant"].method.name != "gradcam")  # stable: Grad-CAM first
        out.append(
            {
                "s": s,
                "input": img_path("samples", s.id, "input"),
                "top": [(site.classes[i], p) for i, p in topk(s.probs, site.topk)],
                "focus": [
                    {
                        "role": role,
                        "cls": site.classes[c],
                        "maps": [
                            {
                                "variant": r["variant"],
                                "img": r["cells"][i]["img"][MAP_SCOPE],
                                "range": r["cells"][i]["range"][MAP_SCOPE],
                            }
                            for r in rows
                            if r["cells"][i]
                        ],
                    }
                    for i, (role, c) in enumerate(focus)
                ],
            }
        )
    return out


def _linker(site: Site, read: Callable[[str], bytes]) -> Callable[[str], str]:
    """The report's `url()`: site images become data: URIs, sample pages in-report anchors;
    anything else raises, because the report must not refer to a file outside itself."""
    samples = {site.url_for("sample", s.id): f"#sample-{s.id}" for s in site.samples}
    cache: dict[str, str] = {}

    def url(to: str) -> str:
        target, _, frag = to.partition("#")
        if not target:
            return f"#{frag}"
        if target in samples:
            return samples[target]
        if Path(target).suffix in (".png", ".svg", ".jpg", ".gif", ".webp"):
            if target not in cache:
                cache[target] = data_uri(target, read(target))
            return cache[target]
        raise OutputError(REPORT_PATH, f"links to {to}, which is not part of the report")

    return url


def report_html(
    env: jinja2.Environment,
    site: Site,
    read: Callable[[str], bytes],
    static: Path,
    common: dict[str, Any],
) -> str:
    """Render the report.

    Args:
      env: the site's Jinja environment (templates/report.html, the shared macros).
      read: site-relative path -> bytes of a file this build wrote (images to inline).
      static: templates/static, whose style.css is inlined.
      common: the values every page gets (site, nav, version).
    """
    card: Page = next(home.pages(site))  # the model card's numbers: layers, confusion, charts
    context = {
        **common,
        **card.context,
        "title": "Offline report",
        "css": (static / "style.css").read_text(encoding="utf-8"),
        "favicon": data_uri("favicon.svg", (static / "favicon.svg").read_bytes()),
        "methods": site.extra.get("methods", []),
        "samples": sample_rows(site),
        "n_wrong": sum(s.correct is False for s in site.samples),
        "page_url": REPORT_PATH,
        "url": _linker(site, read),
    }
    try:
        return env.get_template("report.html").render(**context)
    except (jinja2.TemplateError, OSError) as e:
        raise OutputError(REPORT_PATH, f"report failed: {e}") from e
