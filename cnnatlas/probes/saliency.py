"""Vanilla gradient / saliency (Simonyan, Vedaldi & Zisserman 2013, arXiv 1312.6034).

The gradient of the pre-softmax class score w.r.t. the input pixels. Deviation from the paper,
stated: the paper plots max_c |grad| over colour channels; we keep the sign and sum over
channels (identical for one-channel inputs), so the map is signed and drawn diverging.
"""

from __future__ import annotations

import jax

from ..models import Net
from .relu_rules import input_signal


def saliency(net: Net, x: jax.Array, target: jax.Array, key: jax.Array) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32 d z_target / d x, signed."""
    del key  # deterministic
    return input_signal(net, x, target)
