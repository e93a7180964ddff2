"""All PNG figures of the site, from raw artifacts; value ranges go to the colour bars."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import ClassVar

import numpy as np

from . import images
from .figcache import Figure
from .samples import Sample
from .site import LayerInfo, Variant, img_path

# Normalization scopes of attribution maps (issue 4): the colour scale of a map is its own, shared
# by every method's map for the same sample and class, or shared by the method's maps of the whole
# sample set. Raw values are cached; the scale is chosen only here, when drawing.
SCOPES = {
    "map": "per map",
    "class": "shared across methods for a class",
    "set": "shared across the sample set",
}


class Cell:
    """What a page shows of one attribution map: its image and value range in each scope
    (`img`, `range`: {scope: path}, {scope: (lo, hi)}), its diagnostics (`diag`: {name: value})
    and, once the faithfulness check adds them, its deletion/insertion AUCs (`faith`). Read as
    attributes or items (`cell["img"]`, `"faith" in cell`).

    Compact (issue 10: a dict of dicts per map was ~40 KB a sample; 10,000 samples): the paths
    and ranges are made when asked for, from the map's (sample, variant, class), the file each
    scope uses and each scope's colour-scale extent.
    """

    __slots__ = (
        "_cls",
        "_diag",
        "_files",
        "_names",
        "_sample",
        "_signed",
        "_tops",
        "_variant",
        "faith",
    )
    _SHARED: ClassVar[dict[tuple, tuple]] = {}  # equal tuples of names, kept once

    def __init__(
        self,
        where: tuple[str, str, int],
        files: tuple[str, ...],
        tops: tuple[float, ...],
        signed: bool,
        names: tuple[str, ...] = (),
        diag: tuple[float, ...] = (),
    ) -> None:
        """where: (sample id, variant key, class) of the map; files: the scope whose file each
        scope shows; tops: each scope's colour-scale extent (the range is ±top or [0, top])."""
        self._sample, self._variant, self._cls = where
        self._tops, self._signed, self._diag = tops, signed, diag
        self._files = self._SHARED.setdefault(files, files)
        self._names = self._SHARED.setdefault(names, names)
        self.faith: dict[str, float] | None = None

    def path(self, scope: str) -> str:
        """The image drawn for `scope` (scopes with equal extents share one)."""
        return img_path("samples", self._sample, self._variant, f"{self._cls}-{scope}")

    @property
    def img(self) -> dict[str, str]:
        return {sc: self.path(f) for sc, f in zip(SCOPES, self._files, strict=True)}

    @property
    def range(self) -> dict[str, tuple[float, float]]:
        pairs = zip(SCOPES, self._tops, strict=True)
        return {sc: ((-t, t) if self._signed else (0.0, t)) for sc, t in pairs}

    @property
    def diag(self) -> dict[str, float]:
        return dict(zip(self._names, self._diag, strict=True))

    def __getitem__(self, name: str):
        if name == "faith" and self.faith is None:
            raise KeyError(name)
        return getattr(self, name)

    def __setitem__(self, name: str, value: dict[str, float]) -> None:
        if name != "faith":
            raise KeyError(name)
        self.faith = value

    def __contains__(self, name: str) -> bool:
        return name in ("img", "range", "diag") or (name == "faith" and self.faith is not None)


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
) -> tuple[Iterator[tuple[str, Figure]], dict[str, dict[str, dict[int, Cell]]]]:
    """Every attribution map in every normalization scope, and what the pages show about it.

    Signed maps are drawn in the diverging map on [-m, m]; unsigned ones (Grad-CAM family) in the
    sequential map on [0, m], over the input. A scope whose scale equals a scope already drawn
    reuses its file.

    Args:
      arts: {variant key: {sample id: artifact}}, an artifact being {"maps": (T, H, W),
        "targets": (T,)} and, for probes with diagnostics, "diagnostics": (T, D). Read
        again when drawn: the jobs hold no map (issue 10: memory).
    Returns:
      (files, cells): lazy figures, made as they are iterated (so no list holds every PNG);
      cells[sample id][variant key][class] = a `Cell`.
    """
    set_extent = {
        v.key: max((_extent(a["maps"], v.method.signed) for a in arts[v.key].values()), default=0.0)
        for v in variants
    }
    jobs: list[tuple] = []  # what to draw; drawn lazily so that no list holds every PNG
    cells: dict[str, dict[str, dict[int, Cell]]] = {}
    for s in samples:
        per_class: dict[int, float] = {}
        mine_arts = {v.key: arts[v.key][s.id] for v in variants}  # this sample's, read once
        for v in variants:
            a = mine_arts[v.key]
            for m, c in zip(a["maps"], a["targets"], strict=True):
                per_class[int(c)] = max(per_class.get(int(c), 0.0), _extent(m, v.method.signed))
        cells[s.id] = {}
        for v in variants:
            a, mine = mine_arts[v.key], {}
            for i, (m, c) in enumerate(zip(a["maps"], a["targets"], strict=True)):
                c = int(c)
                if c in mine:  # predicted == true class: computed twice, shown once
                    continue
                tops = (_extent(m, v.method.signed), per_class[c], set_extent[v.key])  # SCOPES
                drawn: dict[float, str] = {}  # extent -> the scope whose file draws it
                for scope, top in zip(SCOPES, tops, strict=True):
                    if top not in drawn:
                        drawn[top] = scope
                        lo, hi = (-top, top) if v.method.signed else (0.0, top)
                        jobs.append((scope, s, v.key, c, i, lo, hi, v.method.signed))
                files = tuple(drawn[t] for t in tops)
                names, diag = (), ()
                if "diagnostics" in a:
                    names = v.method.diagnostic_names
                    diag = tuple(map(float, a["diagnostics"][i]))
                mine[c] = Cell((s.id, v.key, c), files, tops, v.method.signed, names, diag)
            cells[s.id][v.key] = mine
    return _draw(jobs, arts), cells


def _draw(jobs: list[tuple], arts: Mapping) -> Iterator[tuple[str, Figure]]:
    for scope, s, vkey, c, i, lo, hi, signed in jobs:
        path = img_path("samples", s.id, vkey, f"{c}-{scope}")
        m = arts[vkey][s.id]["maps"][i]
        if signed:
            yield path, images.map_figure(m, lo, hi, signed=True)
        else:
            yield path, images.overlay_figure(s.x, m, lo, hi, signed=False)
