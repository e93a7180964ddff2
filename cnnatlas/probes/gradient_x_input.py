"""Gradient × input (Shrikumar et al. 2016, arXiv 1605.01713; "input × gradient" in Captum).

x * d z_c / d x, summed over channels: for a linear model it is exactly each pixel's
contribution w_i x_i to the score; for a ReLU net it is that contribution to first order.
"""

from __future__ import annotations

import jax

from ..models import Net


def gradient_x_input(net: Net, x: jax.Array, target: jax.Array, key: jax.Array) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed."""
    del key  # deterministic
    grads = jax.grad(lambda v: net.run(v)[target])(x)
    return (x * grads).sum(axis=-1)
