"""The sample set: an index, and one page per sample (prediction, activations, Grad-CAM)."""

from __future__ import annotations

from collections.abc import Iterator

from ..render import Page
from ..site import Site, img_path, topk


def pages(site: Site) -> Iterator[Page]:
    yield Page("samples/index.html", "samples.html", {"title": "Samples"})
    ranges = site.extra["ranges"]
    ids = [s.id for s in site.samples]
    for pos, s in enumerate(site.samples):
        acts = []
        for layer in site.layers:
            if layer.is_map:
                units = [
                    {"k": k, "img": img_path("samples", s.id, layer.name, k), "url": site.url_for("layer", layer.name) + f"#unit-{k}"}
                    for k in range(layer.units)
                ]
                acts.append({"layer": layer, "units": units, "range": ranges[f"{s.id}/{layer.name}"]})
            else:
                acts.append({"layer": layer, "units": [], "range": ranges[f"{s.id}/{layer.name}"], "strip": img_path("samples", s.id, layer.name)})
        focus = [("predicted", s.pred)] + ([("true", s.label)] if s.label is not None and s.label != s.pred else [])
        gradcam = []
        for layer in site.gradcam_layers:
            cells = [
                {
                    "cls": c,
                    "img": {sc: img_path("samples", s.id, "gradcam", layer, f"{c.index}-{sc}") for sc in ("map", "shared")},
                    "range": ranges[f"{s.id}/gradcam/{layer}/{c.index}/map"],
                    "role": next((r for r, i in focus if i == c.index), ""),
                }
                for c in site.classes
            ]
            gradcam.append({"layer": layer, "cells": cells, "shared": ranges[f"{s.id}/gradcam/{layer}/shared"]})
        yield Page(
            site.url_for("sample", s.id),
            "sample.html",
            {
                "title": f"Sample {s.id}",
                "s": s,
                "input": img_path("samples", s.id, "input"),
                "top": [(site.classes[i], p) for i, p in topk(s.probs, site.topk)],
                "acts": acts,
                "gradcam": gradcam,
                "focus": [(role, site.classes[i]) for role, i in focus],
                "prev": site.url_for("sample", ids[pos - 1]),
                "next": site.url_for("sample", ids[(pos + 1) % len(ids)]),
            },
        )
