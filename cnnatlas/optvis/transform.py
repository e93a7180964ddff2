"""Transformation robustness: `(key, img) -> img` with static shapes and explicit keys.

After lucid's `optvis/transform.py` (Olah et al., Distill 2017, "Transformation robustness"):
an image that still activates the unit after random small shifts, scalings and rotations has
fewer high-frequency artefacts. Every transform here takes an explicit PRNG key and an
unbatched (H, W, C) image; the output shape depends only on the input shape, never on the key
(jitter, scale and rotate keep the shape; `pad` grows it by a fixed margin and `crop` cuts a
fixed centre), so the whole chain jit-compiles once and runs inside `lax.scan`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

Transform = Callable[[jax.Array, jax.Array], jax.Array]


def pad(n: int, value: float = 0.5) -> Transform:
    """Pad every side by `n` pixels of a constant: (H, W, C) -> (H + 2n, W + 2n, C)."""

    def fn(key: jax.Array, img: jax.Array) -> jax.Array:
        del key
        return jnp.pad(img, ((n, n), (n, n), (0, 0)), constant_values=value)

    return fn


def jitter(d: int) -> Transform:
    """Shift by a random whole number of pixels in [-d, d] along each axis; edges repeat."""

    def fn(key: jax.Array, img: jax.Array) -> jax.Array:
        h, w, c = img.shape
        off = jax.random.randint(key, (2,), 0, 2 * d + 1)
        big = jnp.pad(img, ((d, d), (d, d), (0, 0)), mode="edge")
        zero = jnp.zeros((), off.dtype)
        return jax.lax.dynamic_slice(big, (off[0], off[1], zero), (h, w, c))

    return fn


def _tent(src: jax.Array, n: int) -> jax.Array:
    """Bilinear weights (..., n) of reading positions `src` (...) of an axis of length n, edges
    repeated: row i is max(0, 1 - |clip(src_i) - j|) over j."""
    src = jnp.clip(src, 0, n - 1)[..., None]
    grid = jnp.arange(n, dtype=jnp.float32).reshape((1,) * (src.ndim - 1) + (n,))
    return jnp.maximum(0.0, 1 - jnp.abs(src - grid))


def _shear_x(img: jax.Array, a: jax.Array) -> jax.Array:
    """Row y shifted by a·(y − cy): out[y, x] = img[y, x + a (y − cy)], bilinear."""
    h, w, _ = img.shape
    y = jnp.arange(h, dtype=jnp.float32)[:, None] - (h - 1) / 2
    src = jnp.arange(w, dtype=jnp.float32)[None, :] + a * y  # (h, w)
    return jnp.einsum("yxj,yjc->yxc", _tent(src, w), img)


def _shear_y(img: jax.Array, b: jax.Array) -> jax.Array:
    """Column x shifted by b·(x − cx): out[y, x] = img[y + b (x − cx), x], bilinear."""
    h, w, _ = img.shape
    x = jnp.arange(w, dtype=jnp.float32)[None, :] - (w - 1) / 2
    src = jnp.arange(h, dtype=jnp.float32)[:, None] + b * x  # (h, w)
    return jnp.einsum("yxi,ixc->yxc", _tent(src, h), img)


def _pick(key: jax.Array, choices: Sequence[float]) -> jax.Array:
    table = jnp.asarray(choices, jnp.float32)
    return table[jax.random.randint(key, (), 0, len(choices))]


# Scale and rotate resample with dense bilinear weight matrices (matmuls, no gathers): under
# vmap over units inside lax.scan, XLA:CPU compiled gather-based resampling several times slower.


def scale(factors: Sequence[float]) -> Transform:
    """Zoom about the centre by a factor drawn uniformly from `factors` (> 1 enlarges)."""

    def fn(key: jax.Array, img: jax.Array) -> jax.Array:
        inv = 1 / _pick(key, factors)
        h, w, _ = img.shape
        wy = _tent((jnp.arange(h, dtype=jnp.float32) - (h - 1) / 2) * inv + (h - 1) / 2, h)
        wx = _tent((jnp.arange(w, dtype=jnp.float32) - (w - 1) / 2) * inv + (w - 1) / 2, w)
        return jnp.einsum("yi,xj,ijc->yxc", wy, wx, img)

    return fn


def rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by an angle (degrees) drawn uniformly from `degrees`, as three
    shears (Paeth 1986), each a bilinear resampling along one axis."""

    def fn(key: jax.Array, img: jax.Array) -> jax.Array:
        t = _pick(key, degrees) * (math.pi / 180)
        a, b = -jnp.tan(t / 2), jnp.sin(t)
        return _shear_x(_shear_y(_shear_x(img, a), b), a)

    return fn


def crop(h: int, w: int) -> Transform:
    """The centre (h, w) window; the input must be at least that large."""

    def fn(key: jax.Array, img: jax.Array) -> jax.Array:
        del key
        top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
        return img[top : top + h, left : left + w]

    return fn


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply `transforms` in order, each with its own key split from the one given."""

    def fn(key: jax.Array, img: jax.Array) -> jax.Array:
        for t, k in zip(transforms, jax.random.split(key, max(1, len(transforms))), strict=False):
            img = t(k, img)
        return img

    return fn


# lucid's standard_transforms scaled from 224 px to 28 px images: pad 12 -> 2, jitter 8 -> 2,
# scale 0.9 .. 1.1, rotate -10 .. 10 degrees (0 weighted up), jitter 4 -> 1.
STANDARD: tuple[Transform, ...] = (
    pad(2),
    jitter(2),
    scale(tuple(1 + (i - 5) / 50 for i in range(11))),
    rotate(tuple(range(-10, 11)) + (0,) * 5),
    jitter(1),
)
TRANSFORMS: dict[str, tuple[Transform, ...]] = {"none": (), "standard": STANDARD}
