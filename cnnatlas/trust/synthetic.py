"""A small synthetic dataset with known object locations, for the pointing game (issue 12).

Each image holds one filled shape — square, disc, cross or triangle (the class) — at a random
position (inside a random quadrant) and size, on a random textured background (smoothed noise
plus a faint grating), at the atlas dataset's input size. Its tight bounding box is returned
with it. Everything is a pure function of the seed (NumPy's PCG64 generator), vectorized over
the images.

Polarity: half of the objects, at random, are brighter than every background pixel (object in
[0.6, 1], background in [0, 0.45]); the others darker (object in [0, 0.3], background in
[0.4, 0.85]). The shape is always visible and its outline sets the class; a map that only
follows the input's brightness (e.g. gradient × input on a model that ignores the object)
points at bright objects and misses dark ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("square", "disc", "cross", "triangle")
MIN_SIZE = 0.25  # object side as a share of the image side: 7 to 11 pixels at 28×28
MAX_SIZE = 0.4


@dataclass(frozen=True)
class Synthetic:
    """x (N, H, W, C) float32 in [0, 1]; y (N,) int32 class (CLASSES); boxes (N, 4) int32
    (top, left, bottom, right), bottom/right exclusive; masks (N, H, W) bool, the object."""

    x: np.ndarray
    y: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray


def _blur(a: np.ndarray, passes: int = 2) -> np.ndarray:
    """Cheap smoothing of (N, H, W) noise: repeated 3×3 box means (edges wrap)."""
    for _ in range(passes):
        a = sum(np.roll(a, (dy, dx), axis=(1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return a


def backgrounds(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """(N, H, W) textures in [0, 0.45]: smoothed noise plus a grating of random frequency,
    orientation and phase."""
    noise = _blur(rng.random((n, h, w)))
    noise = (noise - noise.min(axis=(1, 2), keepdims=True)) / np.maximum(
        np.ptp(noise, axis=(1, 2), keepdims=True), 1e-9
    )
    theta, freq, phase = (
        rng.random((3, n, 1, 1)) * np.array([np.pi, 0.6, 2 * np.pi])[:, None, None, None]
    )
    yy, xx = np.mgrid[:h, :w]
    grating = 0.5 + 0.5 * np.sin((0.3 + freq) * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    return 0.45 * (0.7 * noise + 0.3 * grating)


def shape_masks(
    cls: np.ndarray, cy: np.ndarray, cx: np.ndarray, r: np.ndarray, h: int, w: int
) -> np.ndarray:
    """(N, H, W) bool masks of shape `cls` centred at (cy, cx) with half-size r (all (N,))."""
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    dy, dx = yy - cy[:, None, None], xx - cx[:, None, None]
    r = r[:, None, None]
    bar = np.maximum(1.0, r / 3)  # the cross's half-thickness
    top = -r  # triangle: apex at the top, base at the bottom, width growing downwards
    masks = np.stack(
        [
            (np.abs(dy) <= r) & (np.abs(dx) <= r),
            dy * dy + dx * dx <= r * r,
            ((np.abs(dy) <= r) & (np.abs(dx) <= bar)) | ((np.abs(dx) <= r) & (np.abs(dy) <= bar)),
            (dy >= top) & (dy <= r) & (np.abs(dx) <= (dy - top) / 2 + 0.5),
        ]
    )  # (4, N, H, W)
    return np.take_along_axis(masks, cls[None, :, None, None], axis=0)[0]


def tight_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, 4) int32 (top, left, bottom, right), bottom/right exclusive."""
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    h, w = masks.shape[1:]
    top, left = rows.argmax(axis=1), cols.argmax(axis=1)
    bottom, right = h - rows[:, ::-1].argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)
    return np.stack([top, left, bottom, right], axis=1).astype(np.int32)


def make(seed: int, n: int, shape: tuple[int, int, int]) -> Synthetic:
    """n images of `shape` (H, W, C), classes balanced in turn, deterministic from `seed`."""
    h, w, c = shape
    rng = np.random.default_rng([seed, 12, n])
    cls = (np.arange(n) % len(CLASSES)).astype(np.int32)
    side = min(h, w)
    r = rng.uniform(MIN_SIZE, MAX_SIZE, n) * side / 2
    # Each object lies wholly in a random quadrant, so that "the middle of the image" is not a
    # good guess (a centre-biased map would otherwise hit most boxes of a 28×28 image).
    quad = rng.integers(0, 4, n)
    hh, hw = h // 2, w // 2
    cy = (quad // 2) * (h - hh) + rng.uniform(r, hh - 1 - r)
    cx = (quad % 2) * (w - hw) + rng.uniform(r, hw - 1 - r)
    masks = shape_masks(cls, cy, cx, r, h, w)
    dark = rng.random((n, 1, 1)) < 0.5
    obj = np.where(dark, rng.uniform(0.0, 0.3, (n, 1, 1)), rng.uniform(0.6, 1.0, (n, 1, 1)))
    back = backgrounds(rng, n, h, w) + np.where(dark, 0.4, 0.0)
    img = np.where(masks, obj, back).astype(np.float32)
    x = np.repeat(img[..., None], c, axis=-1)
    return Synthetic(x=x, y=cls, boxes=tight_boxes(masks), masks=masks)


def inside(points: np.ndarray, boxes: np.ndarray, tolerance: int = 0) -> np.ndarray:
    """Whether each (row, col) point (N, 2) lies in its box (N, 4) grown by `tolerance` pixels
    on every side -> (N,) bool."""
    t = tolerance
    y, x = points[:, 0], points[:, 1]
    return (
        (y >= boxes[:, 0] - t)
        & (y < boxes[:, 2] + t)
        & (x >= boxes[:, 1] - t)
        & (x < boxes[:, 3] + t)
    )


def argmax_points(maps: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, 2) int (row, col) of each map's maximum (NaN never wins)."""
    n, _, w = maps.shape
    flat = np.nan_to_num(np.asarray(maps, np.float64).reshape(n, -1), nan=-np.inf)
    i = flat.argmax(axis=1)
    return np.stack([i // w, i % w], axis=1)
