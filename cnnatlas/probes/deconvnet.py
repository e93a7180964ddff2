"""Deconvnet (Zeiler & Fergus 2014, arXiv 1311.2901), as a backward rule.

Seen as backpropagation, the deconvnet's "rectify the reconstruction" step replaces every ReLU's
backward rule with R_in = max(R_out, 0), ignoring the forward activation pattern (a
`jax.custom_vjp`, see relu_rules.py); unpooling with switches is max-pooling's gradient and the
transposed filters are the convolution's. Like guided backprop, it fails the randomization check.
"""

from __future__ import annotations

import jax

from ..models import Net
from .relu_rules import input_signal, with_rule


def deconvnet(net: Net, x: jax.Array, target: jax.Array, key: jax.Array) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed (summed over channels)."""
    del key  # deterministic
    return input_signal(with_rule(net, "deconvnet"), x, target)
