"""Grad-CAM (Selvaraju et al., ICCV 2017, arXiv 1610.02391).

Gradient of the pre-softmax class score w.r.t. a conv layer's output, averaged over space into
channel weights; weighted sum of the activation maps; ReLU (as in the paper); bilinear upsampling
to the input size. Raw values, never normalized.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..models import Net


def gradcam(net: Net, x: jax.Array, target: jax.Array, key: jax.Array, *, layer: str) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, >= 0."""
    del key  # deterministic
    acts = net.run(x, stop=layer)  # (h, w, K)
    grads = jax.grad(lambda a: net.run(a, start=layer)[target])(acts)
    weights = grads.mean(axis=(0, 1))  # alpha_k^c, eq. 1
    cam = jax.nn.relu(jnp.tensordot(acts, weights, axes=1))  # eq. 2
    return jax.image.resize(cam, x.shape[:2], method="linear")
