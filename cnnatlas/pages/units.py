"""Unit pages (Microscope / DeepVis style): one per conv channel and dense unit, plus an index
of every layer's maximizing images. Data comes ready-made from `site.extra["units"]`."""

from __future__ import annotations

from collections.abc import Iterator

from ..render import Page
from ..site import Site


def pages(site: Site) -> Iterator[Page]:
    data = site.extra.get("units")
    if not data:
        return
    layers = data["layers"]
    yield Page(site.url_for("units"), "units.html", {"title": "Units", "layers": layers})
    infos = {info.name: info for info in site.layers}
    by_id = {s.id: s for s in site.samples}
    for layer in layers:
        units = layer["units"]
        for u in units:
            k = u["k"]
            others = [
                {"layer": o["name"], "url": o["units"][k]["url"]}
                for o in layers
                if o["name"] != layer["name"] and k < len(o["units"])
            ]
            yield Page(
                u["url"],
                "unit.html",
                {
                    "title": f"{layer['name']} unit {k}",
                    "layer": infos[layer["name"]],  # LayerInfo (search subtitles use it)
                    "ul": layer,
                    "u": u,
                    "prev": units[k - 1]["url"] if k > 0 else None,
                    "next": units[k + 1]["url"] if k + 1 < len(units) else None,
                    "others": others,
                    "samples": [(by_id[s["id"]], s["value"]) for s in u["samples"]],
                },
            )
