"""Geometry of the unit pages' inline figures, as plain values for the templates: CSS crops,
weight cells (inline SVG) and histogram bars.

Crops are CSS windows onto a shared PNG (`overflow: hidden` around a scaled, shifted <img>), so
a layer's maximizing images are one file and receptive-field crops need no files at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import images


@dataclass(frozen=True)
class ReceptiveField:
    """size r, jump j (input pixels per output step) and the input coordinate of the centre of
    output position 0 (may be fractional after an even-sized pool)."""

    size: int
    jump: int
    start: float

    def box(self, y: int, x: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """Input window (y0, x0, y1, x1), end-exclusive and clipped to the image, of (y, x)."""
        half = (self.size - 1) / 2
        y0, x0 = round(self.start + y * self.jump - half), round(self.start + x * self.jump - half)
        return max(0, y0), max(0, x0), min(hw[0], y0 + self.size), min(hw[1], x0 + self.size)


def crop(
    src: str, alt: str, natural: tuple[int, int], box: tuple[int, int, int, int], size: int
) -> dict:
    """A window `box` = (y0, x0, y1, x1) of the PNG `src` (natural (H, W)) fitted into `size` px:
    the container's size and the scaled <img>'s size and offset, in CSS px."""
    y0, x0, y1, x1 = box
    f = size / max(y1 - y0, x1 - x0)
    r = lambda v: round(v, 2)  # noqa: E731
    return {
        "src": src,
        "alt": alt,
        "w": r((x1 - x0) * f),
        "h": r((y1 - y0) * f),
        "iw": r(natural[1] * f),
        "ih": r(natural[0] * f),
        "x": r(-x0 * f),
        "y": r(-y0 * f),
    }


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def weight_cells(kernel: np.ndarray, in_shape: tuple[int, ...], link: Any) -> dict:
    """Inline-SVG geometry of one unit's incoming weights (signed, diverging colours).

    kernel: (kh, kw, C) for a conv unit, or (n,) for a dense unit whose input has `in_shape`
    (reshaped to (h, w, C) when it came from a spatial stage). One tile per input channel c,
    linked to `link(c)` (a URL or None).
    """
    tiles_w = kernel.reshape(in_shape) if kernel.ndim == 1 and len(in_shape) == 3 else kernel
    if tiles_w.ndim == 1:
        tiles_w = tiles_w[None, :, None]
    kh, kw, channels = tiles_w.shape
    cell = max(6, min(14, 40 // max(kh, kw)))
    per_row = min(channels, 5)
    gap = 6
    vmax = float(np.abs(tiles_w).max()) or 1.0
    lut = images.LUTS["diverging"]
    tiles = []
    for c in range(channels):
        ty, tx = divmod(c, per_row)
        ox, oy = tx * (kw * cell + gap), ty * (kh * cell + gap)
        idx = images.to_index(tiles_w[..., c], -vmax, vmax)
        cells = [
            {
                "x": ox + j * cell,
                "y": oy + i * cell,
                "fill": _hex(lut[idx[i, j]]),
                "v": float(tiles_w[i, j, c]),
            }
            for i in range(kh)
            for j in range(kw)
        ]
        tiles.append(
            {
                "c": c,
                "url": link(c),
                "x": ox,
                "y": oy,
                "w": kw * cell,
                "h": kh * cell,
                "cells": cells,
            }
        )
    rows = -(-channels // per_row)
    return {
        "cell": cell,
        "tiles": tiles,
        "vmax": vmax,
        "width": per_row * (kw * cell + gap) - gap,
        "height": rows * (kh * cell + gap) - gap,
    }


def histogram(values: np.ndarray, bins: int = 24, width: int = 320, height: int = 110) -> dict:
    """Bar geometry of a histogram of `values`, with a zero line when 0 lies inside the range."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    top = max(1, int(counts.max()))
    bw = width / bins
    bars = [
        {
            "x": round(i * bw, 2),
            "w": round(bw - 1, 2),
            "h": round(height * n / top, 2),
            "y": round(height - height * n / top, 2),
            "n": int(n),
            "lo": float(edges[i]),
            "hi": float(edges[i + 1]),
        }
        for i, n in enumerate(counts)
    ]
    zero = round(width * (0 - lo) / (hi - lo), 2) if lo < 0 < hi else None
    return {
        "bars": bars,
        "width": width,
        "height": height,
        "lo": lo,
        "hi": hi,
        "zero": zero,
        "n": len(values),
    }
