"""All PNG figures of the site, from raw artifacts; value ranges go to the colour bars."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from . import images
from .attrcells import SCOPES, CellTable
from .figcache import Figure
from .samples import Sample
from .site import LayerInfo, Variant, img_path


def colorbars() -> Iterator[tuple[str, bytes]]:
    for signed in (False, True):
        yield (
            img_path("colorbar-" + ("diverging" if signed else "sequential")),
            images.colorbar_png(signed),
        )


def sample_figures(
    sample: Sample,
    acts: dict[str, np.ndarray],
    layers: list[LayerInfo],
    ranges: dict[str, tuple[float, float]],
) -> Iterator[tuple[str, Figure]]:
    """Input and every spatial stage's unit maps of one sample (attribution maps: see below),
    as lazy figures (drawn only when the figure cache and the live site lack them).

    Args:
      acts: {stage: (h, w, K) or (K,)}.
      ranges: filled with the (vmin, vmax) each figure group was drawn with, keyed like its path.
    """
    sid = sample.id
    yield img_path("samples", sid, "input"), images.image_figure(sample.x)
    for layer in layers:
        a = acts[layer.name]
        lo, hi = images.value_range(a, layer.signed)  # one scale per stage: units comparable
        ranges[f"{sid}/{layer.name}"] = (lo, hi)
        if not layer.is_map:  # a vector: one strip, a cell per unit
            yield (
                img_path("samples", sid, layer.name),
                images.map_figure(a[None, :], lo, hi, layer.signed),
            )
            continue
        for k in range(layer.units):
            yield (
                img_path("samples", sid, layer.name, k),
                images.map_figure(a[..., k], lo, hi, layer.signed),
            )


def _extent(maps: np.ndarray, signed: bool) -> float:
    """The largest value a colour scale must reach: max |v| if signed, else max(v, 0)."""
    a = np.asarray(maps, np.float64)
    return float(np.abs(a).max() if signed else max(a.max(), 0.0)) if a.size else 0.0


def attribution_figures(
    samples: list[Sample],
    variants: list[Variant],
    arts: Mapping[str, Mapping[str, dict[str, np.ndarray]]],
) -> tuple[Iterator[tuple[str, Figure]], CellTable]:
    """Every attribution map in every normalization scope, and what the pages show about it.

    Signed maps are drawn in the diverging map on [-m, m]; unsigned ones (Grad-CAM family) in the
    sequential map on [0, m], over the input. A scope whose scale equals a scope already drawn
    reuses its file.

    Args:
      arts: {variant key: {sample id: artifact}}, an artifact being {"maps": (T, H, W),
        "targets": (T,)} and, for probes with diagnostics, "diagnostics": (T, D). Read
        again when drawn: nothing here holds a map (issue 10: memory).
    Returns:
      (files, cells): lazy figures, made sample by sample as they are iterated (no list holds
      every PNG or every job); the `CellTable` cells[sample id][variant key][class] is filled
      as they are, and is complete once they all have been.
    """
    set_extent = {
        v.key: max((_extent(a["maps"], v.method.signed) for a in arts[v.key].values()), default=0.0)
        for v in variants
    }
    table = CellTable([s.id for s in samples], variants)

    def files() -> Iterator[tuple[str, Figure]]:
        for s in samples:
            yield from _sample_maps(s, variants, arts, set_extent, table)

    return files(), table


def _sample_maps(
    s: Sample,
    variants: list[Variant],
    arts: Mapping[str, Mapping[str, dict[str, np.ndarray]]],
    set_extent: dict[str, float],
    table: CellTable,
) -> Iterator[tuple[str, Figure]]:
    """One sample's attribution figures; its cells go into `table`."""
    mine = {v.key: arts[v.key][s.id] for v in variants}  # this sample's, read once
    per_class: dict[int, float] = {}  # the "class" scope: max over every method's map
    for v in variants:
        a = mine[v.key]
        for m, c in zip(a["maps"], a["targets"], strict=True):
            per_class[int(c)] = max(per_class.get(int(c), 0.0), _extent(m, v.method.signed))
    for v in variants:
        a, signed, shown = mine[v.key], v.method.signed, set()
        n_targets = len(a["targets"])
        for i, (m, c) in enumerate(zip(a["maps"], a["targets"], strict=True)):
            c = int(c)
            if c in shown:  # predicted == true class: computed twice, shown once
                continue
            shown.add(c)
            tops = (_extent(m, signed), per_class[c], set_extent[v.key])  # SCOPES
            drawn: dict[float, str] = {}  # extent -> the scope whose file draws it
            for scope, top in zip(SCOPES, tops, strict=True):
                if top in drawn:
                    continue
                drawn[top] = scope
                path = img_path("samples", s.id, v.key, f"{c}-{scope}")
                if signed:
                    yield path, images.map_figure(m, -top, top, signed=True)
                else:
                    yield path, images.overlay_figure(s.x, m, 0.0, top, signed=False)
            diag = a["diagnostics"][i] if "diagnostics" in a else ()
            table.put(s.id, v, i, n_targets, c, tuple(drawn[t] for t in tops), tops, diag)
