"""Grad-CAM++ (Chattopadhyay et al., WACV 2018, arXiv 1710.11063).

Grad-CAM with per-position channel weights. With g = d z_c / d A (A the layer's activations):

    a_ijk = g_ijk^2 / (2 g_ijk^2 + sum_ab A_abk g_ijk^3)      (eq. 19, exp(z_c) cancelled)
    w_k   = sum_ij a_ijk relu(g_ijk)
    L_c   = relu(sum_k w_k A_k), upsampled bilinearly to the input size

As pytorch-grad-cam does, the positive gradient of the score z_c is used in w_k instead of that
of exp(z_c): this drops the factor exp(z_c), a positive constant per map. a is set to 0 where its
denominator is 0. The derivation assumes A >= 0, hence the default layer relu_2_2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..models import Net


def gradcampp(
    net: Net, x: jax.Array, target: jax.Array, key: jax.Array, *, layer: str
) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, >= 0, unnormalized."""
    del key  # deterministic
    acts = net.run(x, stop=layer)  # (h, w, K)
    grads = jax.grad(lambda a: net.run(a, start=layer)[target])(acts)
    g2 = grads * grads
    denom = 2 * g2 + acts.sum(axis=(0, 1), keepdims=True) * g2 * grads
    safe = jnp.where(denom != 0, denom, jnp.ones_like(denom))
    alpha = jnp.where(denom != 0, g2 / safe, jnp.zeros_like(g2))
    weights = (alpha * jax.nn.relu(grads)).sum(axis=(0, 1))  # (K,)
    cam = jax.nn.relu(jnp.tensordot(acts, weights, axes=1))
    return jax.image.resize(cam, x.shape[:2], method="linear")
