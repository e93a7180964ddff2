"""The sample set: an index, and one page per sample (prediction, activations, attribution maps)."""

from __future__ import annotations

from collections.abc import Iterator

from ..attrcells import SCOPES
from ..render import Page
from ..site import Site, img_path, topk
from .methods import grid


def pages(site: Site) -> Iterator[Page]:
    yield Page("samples/index.html", "samples.html", {"title": "Samples"})
    ranges = site.extra["ranges"]
    ids = [s.id for s in site.samples]
    with_pages = site.extra.get("units", {}).get("names", frozenset())  # issue 5: unit pages

    def unit_url(layer: str, k: int) -> str:
        if layer in with_pages:
            return site.url_for("unit", (layer, k))
        return site.url_for("layer", layer) + f"#unit-{k}"

    for pos, s in enumerate(site.samples):
        acts = []
        for layer in site.layers:
            if layer.is_map:
                units = [
                    {
                        "k": k,
                        "img": img_path("samples", s.id, layer.name, k),
                        "url": unit_url(layer.name, k),
                    }
                    for k in range(layer.units)
                ]
                acts.append(
                    {"layer": layer, "units": units, "range": ranges[f"{s.id}/{layer.name}"]}
                )
            else:
                acts.append(
                    {
                        "layer": layer,
                        "units": [],
                        "range": ranges[f"{s.id}/{layer.name}"],
                        "strip": img_path("samples", s.id, layer.name),
                    }
                )
        same = s.label is None or s.label == s.pred
        focus = [
            (
                "predicted" if s.label is None else "predicted = true" if same else "predicted",
                s.pred,
            )
        ]
        focus += [] if same else [("true", s.label)]
        everything = grid(site, s.id, [c.index for c in site.classes])
        yield Page(
            site.url_for("sample", s.id),
            "sample.html",
            {
                "title": f"Sample {s.id}",
                "s": s,
                "input": img_path("samples", s.id, "input"),
                "top": [(site.classes[i], p) for i, p in topk(s.probs, site.topk)],
                "acts": acts,
                "attr_rows": grid(site, s.id, [c for _, c in focus]),
                "all_rows": [r for r in everything if r["variant"].method.classes == "all"],
                "scopes": list(SCOPES.items()),
                "focus": [(role, site.classes[i]) for role, i in focus],
                "focus_classes": [i for _, i in focus],
                "prev": site.url_for("sample", ids[pos - 1]),
                "next": site.url_for("sample", ids[(pos + 1) % len(ids)]),
            },
        )
