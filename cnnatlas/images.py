"""Arrays -> PNG bytes. Normalization and colour maps are chosen here, at draw time, so the
cached raw values stay comparable; images keep their native resolution and are scaled up by the
browser with `image-rendering: pixelated` (crisp, tiny files).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from . import figcache

# Anchor colours, interpolated to 256-entry tables. Sequential: viridis. Diverging: blue-white-red
# (negative blue, positive red), as CNN Explainer's layerColorScales does for signed values.
_VIRIDIS = [
    (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
    (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
]  # fmt: skip
_DIVERGING = [
    (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
    (247, 247, 247), (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
]  # fmt: skip


def _lut(anchors: list[tuple[int, int, int]]) -> np.ndarray:
    a = np.asarray(anchors, np.float64)
    pos = np.linspace(0, 1, len(a))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, pos, a[:, i]) for i in range(3)], -1).round().astype(np.uint8)


LUTS = {"sequential": _lut(_VIRIDIS), "diverging": _lut(_DIVERGING)}


def value_range(arrays: np.ndarray, signed: bool) -> tuple[float, float]:
    """(vmin, vmax) for a group of maps: symmetric around 0 when signed."""
    a = np.asarray(arrays, np.float64)
    if signed:
        m = float(np.abs(a).max()) if a.size else 0.0
        return -m, m
    return float(a.min()), float(a.max())


def to_index(a: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """Map values to 0..255 colour-table indices (a flat map gives the middle colour if signed)."""
    span = vmax - vmin
    if span <= 0:
        return np.full(a.shape, 128 if vmin < 0 else 0, np.uint8)
    return np.clip(np.round((np.asarray(a, np.float64) - vmin) / span * 255), 0, 255).astype(
        np.uint8
    )


def _encode(rgb_or_gray: np.ndarray) -> bytes:
    """Encode uint8 (H, W) or (H, W, 3) as PNG; deterministic (no time chunks)."""
    buf = io.BytesIO()
    Image.fromarray(rgb_or_gray).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def png(rgb_or_gray: np.ndarray) -> bytes:
    """Encode uint8 (H, W) or (H, W, 3) as PNG; deterministic (no time chunks). Memoized by the
    pixels in the build's figure cache (figcache.py), so a rebuild re-encodes nothing."""
    return figcache.encode("png", rgb_or_gray, (), lambda: _encode(rgb_or_gray))


def map_figure(a: np.ndarray, vmin: float, vmax: float, signed: bool) -> figcache.Figure:
    """A 2-D map in the sequential or diverging colour map, keyed by (a, vmin, vmax, signed):
    drawn only if the figure cache lacks it."""
    a = np.asarray(a)
    lut = LUTS["diverging" if signed else "sequential"]
    draw = lambda: _encode(lut[to_index(a, vmin, vmax)])  # noqa: E731
    return figcache.figure("map", (a,), (float(vmin), float(vmax), bool(signed)), draw)


def map_png(a: np.ndarray, vmin: float, vmax: float, signed: bool) -> bytes:
    """A 2-D map in the sequential or diverging colour map."""
    return map_figure(a, vmin, vmax, signed).png()


def _image_pixels(x: np.ndarray) -> np.ndarray:
    u8 = np.clip(np.round(np.asarray(x) * 255), 0, 255).astype(np.uint8)
    return u8[..., 0] if u8.shape[-1] == 1 else u8


def image_figure(x: np.ndarray) -> figcache.Figure:
    """A model input (H, W, C) in [0, 1] as a grayscale or RGB PNG, keyed by x."""
    x = np.asarray(x)
    return figcache.figure("image", (x,), (), lambda: _encode(_image_pixels(x)))


def image_png(x: np.ndarray) -> bytes:
    """A model input (H, W, C) in [0, 1] as a grayscale or RGB PNG."""
    return image_figure(x).png()


def _overlay_pixels(
    x: np.ndarray, a: np.ndarray, vmin: float, vmax: float, signed: bool, alpha: float
) -> np.ndarray:
    lut = LUTS["diverging" if signed else "sequential"]
    heat = lut[to_index(a, vmin, vmax)].astype(np.float64)
    base = np.asarray(x, np.float64)
    base = np.repeat(base, 3, -1) if base.shape[-1] == 1 else base
    mixed = (1 - alpha) * base * 255 + alpha * heat
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def overlay_figure(
    x: np.ndarray, a: np.ndarray, vmin: float, vmax: float, signed: bool, alpha: float = 0.6
) -> figcache.Figure:
    """A heat map blended over the (grayscale) input, keyed by (x, a, vmin, vmax, signed, alpha)."""
    x, a = np.asarray(x), np.asarray(a)
    opts = (float(vmin), float(vmax), bool(signed), float(alpha))
    draw = lambda: _encode(_overlay_pixels(x, a, vmin, vmax, signed, alpha))  # noqa: E731
    return figcache.figure("overlay", (x, a), opts, draw)


def overlay_png(
    x: np.ndarray, a: np.ndarray, vmin: float, vmax: float, signed: bool, alpha: float = 0.6
) -> bytes:
    """A heat map blended over the (grayscale) input, so the map can be read against the image."""
    return overlay_figure(x, a, vmin, vmax, signed, alpha).png()


def colorbar_png(signed: bool) -> bytes:
    """A 256×1 strip of the colour map, stretched by CSS next to the min/max values."""
    return png(LUTS["diverging" if signed else "sequential"][None, :, :])
