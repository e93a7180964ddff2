"""t-SNE maps of the test set: an overview with the quality of each map, and one explorable
page per layer (canvas scatter, legend, thumbnails on hover; a PNG and the t-SNE grid for print).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..render import Page
from ..site import Site

INPUT = "input"  # as in layout.py, which imports JAX and so is not imported here
LIBRARIES = {"opentsne": "openTSNE", "sklearn": "scikit-learn"}


def title(layer: str) -> str:
    return "raw pixels" if layer == INPUT else layer


def pages(site: Site) -> Iterator[Page]:
    maps = site.extra.get("maps")
    if not maps or not maps["layouts"]:  # maps turned off: the nav entry still leads somewhere
        yield Page(site.url_for("maps"), "maps.html", {"title": "Maps", "infos": []})
        return
    layers = {layer.name: layer for layer in site.layers}
    infos = maps["layouts"]
    lib = str(maps["settings"]["library"])
    legend = [
        {"cls": c, "colour": colour, "n": n}
        for c, colour, n in zip(site.classes, maps["colours"], maps["class_counts"], strict=True)
    ]
    maps = {**maps, "settings": {**maps["settings"], "library_name": LIBRARIES.get(lib, lib)}}
    common = {"maps": maps, "infos": infos, "layers": layers, "legend": legend, "label": title}
    yield Page(site.url_for("maps"), "maps.html", {"title": "Maps", **common})
    for info in infos:
        yield Page(
            site.url_for("map", info.layer),
            "map.html",
            {"title": f"Map of {title(info.layer)}", "info": info, **common},
        )
