"""Guided backpropagation (Springenberg et al. 2014, arXiv 1412.6806).

The input gradient of the class score with every ReLU's backward rule replaced by
R_in = R_out * [z > 0] * [R_out > 0] (a `jax.custom_vjp`, see relu_rules.py). Max-pooling
routes the signal to the winning position as usual. Fails the model-randomization sanity check
(Adebayo et al. 2018, arXiv 1810.03292): read it as image structure, not class evidence.
"""

from __future__ import annotations

import jax

from ..models import Net
from .relu_rules import input_signal, with_rule


def guided_backprop(net: Net, x: jax.Array, target: jax.Array, key: jax.Array) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed (summed over channels)."""
    del key  # deterministic
    return input_signal(with_rule(net, "guided"), x, target)
