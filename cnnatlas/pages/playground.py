"""The playground (issue 11): draw, upload or pick an image; the page runs the model itself.

One page, `playground/index.html`. The network, the fixed samples and the colour tables come
from `data/playground/*.js` (see cnnatlas/playground.py); templates/static/playground-core.js
computes the forward pass and Grad-CAM, playground-image.js converts uploads as samples.py
does, playground.js draws. The links the script needs (sample, layer and class pages,
thumbnails) are written into the page as JSON, relative to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..playground import model_path, samples_path
from ..render import Page, relative
from ..site import Site, img_path
from .support import input_reason, model_reason, refusal


def links(site: Site, page_url: str) -> dict[str, Any]:
    """URLs relative to the playground page, for its script."""

    def rel(url: str) -> str:
        return relative(page_url, url)

    return {
        "samples": {s.id: rel(site.url_for("sample", s.id)) for s in site.samples},
        "thumbs": {s.id: rel(img_path("samples", s.id, "input")) for s in site.samples},
        "layers": {ly.name: rel(site.url_for("layer", ly.name)) for ly in site.layers},
        "classes": {c.index: rel(site.url_for("class", c.index)) for c in site.classes},
    }


def supports(site: Site) -> str | None:
    """None, or why this page cannot show this build (see pages/support.py)."""
    page = "The playground"
    return model_reason(site, page) or input_reason(site, page, gray_only=True)


def pages(site: Site) -> Iterator[Page]:
    url = site.url_for("playground")
    reason = supports(site)
    if reason:
        yield refusal(url, "Playground", reason)
        return
    convs = [ly for ly in site.layers if ly.kind == "conv"]
    spatial = [ly.units for ly in site.layers if ly.is_map] or [1]
    yield Page(
        url,
        "playground.html",
        {
            "title": "Playground",
            "groups": site.sample_groups(),
            "convs": convs,
            "max_units": max(spatial),
            "show_units": min(max(spatial), 8),
            "topk": site.topk,
            "model_js": model_path(),
            "samples_js": samples_path(),
            "links": links(site, url),
        },
    )
