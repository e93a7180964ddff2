"""Files behind the t-SNE map pages: one thumbnail sprite, a t-SNE grid and a scatter PNG per
layer, and the point data as `.js` files that set a global (a `fetch()` fails from file://).

No JAX here: layouts arrive as NumPy arrays. Everything is deterministic (sorted iteration,
PNGs without time chunks, JSON with fixed separators).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import figcache
from .render import relative
from .site import Site, img_path

# Tableau 10: distinct hues, readable on white; shared by the canvas, the PNG and the legend.
CLASS_COLOURS = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    # classes 11-20 (issue 13: any class count; beyond 20 the colours repeat)
    "#17becf", "#bcbd22", "#393b79", "#843c39", "#7b4173",
    "#637939", "#525252", "#6b6ecf", "#00441b", "#e6550d",
)  # fmt: skip
SPRITE_LEVELS = 16  # grey levels of the thumbnails: 4-bit PNG, less than half the bytes of 8-bit
SPRITE_COLS = 100  # thumbnails per sprite row
SCALE = 9999  # layout coordinates ship as integers 0..SCALE (one in 10^4 of the map's extent)
SCATTER_PX = 720  # the static scatter PNG


@dataclass(frozen=True)
class MapInfo:
    """What the map pages show about one layout (plain values, no arrays)."""

    layer: str
    n: int
    dims: int
    quality: dict[str, float]
    grid: str  # site-relative paths
    scatter: str
    data: str


def colour(c: int) -> str:
    return CLASS_COLOURS[c % len(CLASS_COLOURS)]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def data_path(name: str) -> str:
    return f"data/maps/{name}.js"


def normalize(xy: np.ndarray) -> np.ndarray:
    """Layout (N, 2) -> integers in [0, SCALE], centred, one scale for both axes (no distortion)."""
    xy = np.asarray(xy, np.float64)
    lo, hi = xy.min(0), xy.max(0)
    span = float((hi - lo).max()) or 1.0
    centred = (xy - (lo + hi) / 2) / span + 0.5
    return np.clip(np.round(centred * SCALE), 0, SCALE).astype(np.int64)


def _grey4(xs: np.ndarray) -> Image.Image:
    """(H, W) float in [0, 1] -> a 4-bit paletted grey image."""
    q = np.clip(np.round(np.asarray(xs) * (SPRITE_LEVELS - 1)), 0, SPRITE_LEVELS - 1)
    im = Image.fromarray(q.astype(np.uint8), "P")
    ramp = [round(i * 255 / (SPRITE_LEVELS - 1)) for i in range(SPRITE_LEVELS)]
    im.putpalette([v for g in ramp for v in (g, g, g)])
    return im


def _png(im: Image.Image, cache: bool = True, **kw) -> bytes:
    """Encode with optimize=True (slow for the sprite: memoized in the figure cache, unless
    `cache` is False: a figure keyed by its inputs is being drawn)."""

    def draw() -> bytes:
        buf = io.BytesIO()
        im.save(buf, format="PNG", optimize=True, **kw)
        return buf.getvalue()

    if not cache:
        return draw()
    options = (im.mode, tuple(im.getpalette() or ()), sorted(kw.items()))
    return figcache.encode("optimized", np.asarray(im), options, draw)


def _sheet_png(sheet: np.ndarray, cache: bool = True) -> bytes:
    """(H, W, C) in [0, 1] -> a 4-bit grey PNG (C = 1) or an RGB PNG (C = 3: colour kept)."""
    if sheet.shape[-1] == 1:
        return _png(_grey4(sheet[..., 0]), cache, bits=4)
    rgb = np.clip(np.round(sheet * 255), 0, 255).astype(np.uint8)
    return _png(Image.fromarray(rgb, "RGB"), cache)


def sprite(xs: np.ndarray, cols: int = SPRITE_COLS, cache: bool = True) -> bytes:
    """All thumbnails (N, H, W, C) in [0, 1], row-major, `cols` per row, as one PNG."""
    xs = np.asarray(xs, np.float32)
    n, h, w, c = xs.shape
    rows = -(-n // cols)
    sheet = np.zeros((rows * cols, h, w, c), np.float32)
    sheet[:n] = xs
    sheet = sheet.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4)
    return _sheet_png(sheet.reshape(rows * h, cols * w, c), cache)


def sprite_figure(xs: np.ndarray, cols: int = SPRITE_COLS) -> figcache.Figure:
    """`sprite` as a lazy figure keyed by the thumbnails (issue 10: a rebuild draws no sheet)."""
    xs = np.asarray(xs)
    return figcache.figure("sprite", (xs,), (cols,), lambda: sprite(xs, cols, cache=False))


def grid_cells(xy: np.ndarray, g: int) -> np.ndarray:
    """Snap a layout to a g×g grid: (g, g) int, per cell the point nearest its centre, -1 if empty.

    Rows run top to bottom with y decreasing, as on the scatter; ties go to the lower index.
    """
    u = normalize(xy) / SCALE  # (N, 2) in [0, 1]
    cell = np.minimum((u * g).astype(np.int64), g - 1)
    dist = ((u * g - cell - 0.5) ** 2).sum(1)
    flat = (g - 1 - cell[:, 1]) * g + cell[:, 0]
    order = np.lexsort((np.arange(len(u)), dist, flat))  # by cell, then distance, then index
    first = np.ones(len(order), bool)
    first[1:] = flat[order][1:] != flat[order][:-1]
    out = np.full(g * g, -1, np.int64)
    out[flat[order][first]] = order[first]
    return out.reshape(g, g)


def grid_png(xs: np.ndarray, cells: np.ndarray, cache: bool = True) -> bytes:
    """The "CNN codes" picture: each grid cell shows its snapped thumbnail, on black."""
    g = cells.shape[0]
    xs = np.asarray(xs, np.float32)
    tiles = np.concatenate([xs, np.zeros((1, *xs.shape[1:]), np.float32)])[cells]
    h, w, c = tiles.shape[2:]  # (g, g, h, w, c); an empty cell (-1) takes the black tile
    return _sheet_png(tiles.transpose(0, 2, 1, 3, 4).reshape(g * h, g * w, c), cache)


def grid_figure(xs: np.ndarray, cells: np.ndarray) -> figcache.Figure:
    """`grid_png` as a lazy figure keyed by the thumbnails and the cells."""
    xs = np.asarray(xs)
    return figcache.figure("grid", (xs, cells), (), lambda: grid_png(xs, cells, cache=False))


def _stamp(
    canvas: np.ndarray, px: np.ndarray, py: np.ndarray, offsets: list, value: np.ndarray
) -> None:
    for dx, dy in offsets:
        canvas[py + dy, px + dx] = value


def scatter_figure(
    xy: np.ndarray, labels: np.ndarray, preds: np.ndarray, n_classes: int
) -> figcache.Figure:
    """`scatter_png` as a lazy figure keyed by the points, labels and predictions."""
    arrays = (np.asarray(xy), np.asarray(labels), np.asarray(preds))
    draw = lambda: scatter_png(*arrays, n_classes, cache=False)  # noqa: E731
    return figcache.figure("scatter", arrays, (n_classes,), draw)


def scatter_png(
    xy: np.ndarray, labels: np.ndarray, preds: np.ndarray, n_classes: int, cache: bool = True
) -> bytes:
    """The scatter for print and readers without JavaScript: dots by true class, × if wrong."""
    pos = normalize(xy) / SCALE
    margin = 8
    px = np.round(margin + pos[:, 0] * (SCATTER_PX - 2 * margin)).astype(int)
    py = np.round(margin + (1 - pos[:, 1]) * (SCATTER_PX - 2 * margin)).astype(int)
    canvas = np.zeros((SCATTER_PX, SCATTER_PX), np.uint8)  # palette index 0: white
    ok, wrong = labels == preds, labels != preds
    dot = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if abs(dx) + abs(dy) < 4]
    cross = [(d, d) for d in range(-3, 4)] + [(d, -d) for d in range(-3, 4)]
    _stamp(canvas, px[ok], py[ok], dot, 1 + labels[ok])
    _stamp(canvas, px[wrong], py[wrong], cross, 1 + labels[wrong])  # on top of the dots
    im = Image.fromarray(canvas, "P")
    im.putpalette([255, 255, 255] + [v for c in range(n_classes) for v in _rgb(colour(c))])
    return _png(im, cache)


def _js(name: str, value: object) -> bytes:
    blob = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    return f"window.{name} = {blob};\n".encode()


def map_files(
    site: Site,
    layouts: dict[str, tuple[np.ndarray, dict[str, float], int]],
    xs: np.ndarray,
    labels: np.ndarray,
    preds: np.ndarray,
    settings: dict[str, object],
) -> Iterator[tuple[str, bytes | figcache.Figure]]:
    """Every file of the map pages (the sprite as a lazy figure); fills `site.extra["maps"]`.

    Args:
      layouts: {layer: (xy (N, 2), quality, feature dims)}, in page order.
      xs: the N mapped test images (N, H, W, C) in [0, 1]; labels, preds: (N,) int.
      settings: the t-SNE settings shown on the pages; "grid" is the t-SNE grid's cells per side.
    """
    n = len(xs)
    labels, preds = np.asarray(labels[:n]).astype(int), np.asarray(preds[:n]).astype(int)
    page = site.url_for("map", next(iter(layouts)))  # every map page sits at the same depth
    samples = {
        int(s.id[5:]): relative(page, site.url_for("sample", s.id))
        for s in site.samples
        if s.id.startswith("test-") and s.id[5:].isdigit() and int(s.id[5:]) < n
    }
    h, w = xs.shape[1:3]
    yield img_path("maps", "sprite"), sprite_figure(xs)
    points = {
        "n": n,
        "labels": labels.tolist(),
        "preds": preds.tolist(),
        "classes": [{"name": c.name, "colour": colour(c.index)} for c in site.classes],
        "sprite": {"cols": SPRITE_COLS, "w": w, "h": h},
        "samples": {str(i): samples[i] for i in sorted(samples)},
        "scale": SCALE,
    }
    yield data_path("points"), _js("CNNATLAS_POINTS", points)
    infos = []
    for layer, (xy, q, dims) in layouts.items():
        info = MapInfo(
            layer,
            n,
            dims,
            q,
            img_path("maps", layer, "grid"),
            img_path("maps", layer, "scatter"),
            data_path(layer),
        )
        yield info.grid, grid_figure(xs, grid_cells(xy, int(settings["grid"])))
        yield info.scatter, scatter_figure(xy, labels, preds, len(site.classes))
        yield (
            info.data,
            _js("CNNATLAS_LAYOUT", {"layer": layer, "xy": normalize(xy).ravel().tolist()}),
        )
        infos.append(info)
    site.extra["maps"] = {
        "layouts": infos,
        "settings": settings,
        "n": n,
        "wrong": int((labels != preds).sum()),
        "in_samples": len(samples),
        "class_counts": np.bincount(labels, minlength=len(site.classes)).tolist(),
        "colours": [colour(c.index) for c in site.classes],
        "points": data_path("points"),
        "sprite": img_path("maps", "sprite"),
    }
