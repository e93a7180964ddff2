"""All PNG figures of the site, from raw artifacts; the value ranges go to the pages' colour bars."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import images
from .samples import Sample
from .site import LayerInfo, img_path

SCOPES = ("map", "shared")  # Grad-CAM normalization: per map, or shared across classes


def colorbars() -> Iterator[tuple[str, bytes]]:
    for signed in (False, True):
        yield img_path("colorbar-" + ("diverging" if signed else "sequential")), images.colorbar_png(signed)


def sample_figures(
    sample: Sample,
    acts: dict[str, np.ndarray],
    layers: list[LayerInfo],
    gradcam: dict[str, dict[str, np.ndarray]],
    ranges: dict[str, tuple[float, float]],
) -> Iterator[tuple[str, bytes]]:
    """Input, every spatial stage's unit maps and Grad-CAM overlays of one sample.

    Args:
      acts: {stage: (h, w, K) or (K,)}; gradcam: {layer: {"maps": (T, H, W), "targets": (T,)}}.
      ranges: filled with the (vmin, vmax) each figure group was drawn with, keyed like its path.
    """
    sid = sample.id
    yield img_path("samples", sid, "input"), images.image_png(sample.x)
    for layer in layers:
        a = acts[layer.name]
        lo, hi = images.value_range(a, layer.signed)  # one scale per stage: units comparable
        ranges[f"{sid}/{layer.name}"] = (lo, hi)
        if not layer.is_map:  # a vector: one strip, a cell per unit
            yield img_path("samples", sid, layer.name), images.map_png(a[None, :], lo, hi, layer.signed)
            continue
        for k in range(layer.units):
            yield img_path("samples", sid, layer.name, k), images.map_png(a[..., k], lo, hi, layer.signed)
    for layer_name, art in gradcam.items():
        maps, targets = art["maps"], art["targets"]
        shared = images.value_range(maps, signed=False)
        shared = (0.0, shared[1])
        ranges[f"{sid}/gradcam/{layer_name}/shared"] = shared
        for m, c in zip(maps, targets, strict=True):
            own = (0.0, float(m.max()))
            ranges[f"{sid}/gradcam/{layer_name}/{int(c)}/map"] = own
            for scope, (lo, hi) in (("map", own), ("shared", shared)):
                yield (
                    img_path("samples", sid, "gradcam", layer_name, f"{int(c)}-{scope}"),
                    images.overlay_png(sample.x, m, lo, hi, signed=False),
                )
