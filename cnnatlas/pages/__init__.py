"""Page types: PAGE_TYPES = {name: pages(site) -> Iterator[Page]} (name = module = URL slug)."""

from __future__ import annotations

from . import (
    build,
    classes,
    concepts,
    explain,
    home,
    layers,
    maps,
    methods,
    playground,
    reading,
    samples,
    units,
)

PAGE_TYPES = {
    "build": build.pages,
    "home": home.pages,
    "samples": samples.pages,
    "layers": layers.pages,
    "units": units.pages,
    "classes": classes.pages,
    "maps": maps.pages,
    "methods": methods.pages,
    "explain": explain.pages,
    "playground": playground.pages,
    "concepts": concepts.pages,
    "reading": reading.pages,
}
