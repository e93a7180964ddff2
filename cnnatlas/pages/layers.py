"""One page per stage: every unit's maps over the whole sample set."""

from __future__ import annotations

from collections.abc import Iterator

from ..render import Page
from ..site import Site, img_path


def pages(site: Site) -> Iterator[Page]:
    yield Page("layers/index.html", "layers.html", {"title": "Layers"})
    unit_layers = {u["name"]: u for u in site.extra.get("units", {}).get("layers", [])}  # issue 5
    shown = site.gallery()
    for pos, layer in enumerate(site.layers):
        if layer.is_map:
            units = [
                {
                    "k": k,
                    "maps": [(s, img_path("samples", s.id, layer.name, k)) for s in shown],
                }
                for k in range(layer.units)
            ]
        else:
            units = []
        yield Page(
            site.url_for("layer", layer.name),
            "layer.html",
            {
                "title": f"Layer {layer.name}",
                "layer": layer,
                "units": units,
                "unit_layer": unit_layers.get(layer.name),
                "strips": [(s, img_path("samples", s.id, layer.name)) for s in shown],
                "total": len(site.samples),
                "prev": site.layers[pos - 1] if pos > 0 else None,
                "next": site.layers[pos + 1] if pos + 1 < len(site.layers) else None,
            },
        )
