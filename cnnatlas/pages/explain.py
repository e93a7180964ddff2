"""How the network computes (issue 7): CNN Explainer's overview and detail views, offline.

One page, `explain/index.html`: thumbnails of the sample set, an overview of every stage of the
chosen sample, and detail views (convolution, ReLU, max-pooling, dense + softmax, a
hyperparameter playground) computed in the browser from the real weights. The numbers come from
`data/explain/*.js` (see explaindata.py); switching samples loads another such file, no server.
`explain/index.html#sample-<id>` opens a sample (the fragment is its thumbnail's id).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..explaindata import model_path, sample_path
from ..render import Page, relative
from ..site import Site
from .support import input_reason, model_reason, refusal

CONCEPT_OF_KIND = {"conv": "convolution", "relu": "relu", "pool": "pooling", "dense": "softmax"}


def links(site: Site, page_url: str) -> dict[str, Any]:
    """URLs (relative to the explain page) that the page's JavaScript links to."""
    concepts = site.extra.get("concepts", {})
    return {
        "layers": {
            ly.name: relative(page_url, site.url_for("layer", ly.name)) for ly in site.layers
        },
        "samples": {s.id: relative(page_url, site.url_for("sample", s.id)) for s in site.samples},
        "concepts": {
            kind: {
                "url": relative(page_url, site.url_for("concept", slug)),
                "title": concepts[slug].title,
            }
            for kind, slug in CONCEPT_OF_KIND.items()
            if slug in concepts
        },
    }


def _convs(site: Site) -> list[dict[str, str]]:
    """Input and output size of every conv stage, e.g. {"name": "conv_1_1", "input": "28×28"}."""
    out, prev = [], site.model["input_shape"]
    for ly in site.layers:
        if ly.kind == "conv":
            out.append(
                {
                    "name": ly.name,
                    "input": "×".join(map(str, prev[:2])),
                    "output": "×".join(map(str, ly.shape[:2])),
                }
            )
        prev = ly.shape
    return out


def supports(site: Site) -> str | None:
    """None, or why this page cannot show this build (see pages/support.py)."""
    return model_reason(site, "The explainer") or input_reason(site, "The explainer")


def pages(site: Site) -> Iterator[Page]:
    url = site.url_for("explain")
    reason = supports(site)
    if reason:
        yield refusal(url, "How the network computes", reason)
        return
    concepts = site.extra.get("concepts", {})
    yield Page(
        url,
        "explain.html",
        {
            "title": "How the network computes",
            "groups": site.sample_groups(),
            "model_js": model_path(),
            "sample_js": sample_path("SAMPLE"),
            "links": links(site, url),
            "convs": _convs(site),
            "geometry": f"{dict(site.model.get('hparams', [])).get('padding', 'valid')} padding",
            "concept": {
                k: site.url_for("concept", v) for k, v in CONCEPT_OF_KIND.items() if v in concepts
            },
        },
    )
