"""Occlusion (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901, section 4.2).

Slide a `size`×`size` patch with `stride` over the image, set the pixels under it to `fill`, and
record the drop of the class score z_c(x) - z_c(x with the patch). Every pixel gets the mean
drop over the windows that cover it (as Captum's Occlusion does; pixels no window covers get 0).
All windows of an image go through the network as one vmapped forward pass, not a loop, and
the forward pass does not depend on the class, so all classes share it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..models import Net


def window_masks(h: int, w: int, size: int, stride: int) -> np.ndarray:
    """(n_windows, h, w) float32 masks, 1 inside each window, row-major window order."""
    tops = np.arange(0, max(h - size, 0) + 1, stride)
    lefts = np.arange(0, max(w - size, 0) + 1, stride)
    rows = (np.arange(h) >= tops[:, None]) & (np.arange(h) < tops[:, None] + size)  # (nt, h)
    cols = (np.arange(w) >= lefts[:, None]) & (np.arange(w) < lefts[:, None] + size)  # (nl, w)
    masks = rows[:, None, :, None] & cols[None, :, None, :]  # (nt, nl, h, w)
    return masks.reshape(-1, h, w).astype(np.float32)


def occlusion(
    net: Net,
    x: jax.Array,
    target: jax.Array,
    key: jax.Array,
    *,
    size: int,
    stride: int,
    fill: float,
) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed (score drop)."""
    del key  # deterministic
    masks_np = window_masks(x.shape[0], x.shape[1], size, stride)
    masks = jnp.asarray(masks_np)[..., None]  # (n, H, W, 1)
    occluded = x[None] * (1 - masks) + jnp.float32(fill) * masks  # (n, H, W, C)
    drops = net.run(x)[target] - jax.vmap(net.run)(occluded)[:, target]  # (n,)
    coverage = np.maximum(masks_np.sum(axis=0), 1)  # static (H, W)
    return jnp.tensordot(drops, masks[..., 0], axes=1) / jnp.asarray(coverage)
