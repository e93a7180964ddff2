"""Guided Grad-CAM (Selvaraju et al. 2017, arXiv 1610.02391, section 3.1).

The pixel-wise product of the guided-backprop map and the Grad-CAM map of the same class,
upsampled bilinearly to the input size: sharp detail restricted to the class region. Grad-CAM is
>= 0, so the product keeps guided backprop's sign (drawn diverging).
"""

from __future__ import annotations

import jax

from ..models import Net
from .gradcam import gradcam
from .guided_backprop import guided_backprop


def guided_gradcam(
    net: Net, x: jax.Array, target: jax.Array, key: jax.Array, *, layer: str
) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed."""
    return guided_backprop(net, x, target, key) * gradcam(net, x, target, key, layer=layer)
