"""Every stage's activations and the softmax probabilities, for one input.

This is the forward pass the overview pages show (CNN Explainer's view of all stages).
"""

from __future__ import annotations

import jax

from ..models import Net


def activations(net: Net, x: jax.Array, target: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
    """x (H, W, C) -> {stage name: its output, "probs": softmax of the logits (n_classes,)}."""
    del target, key
    out = net.all_stages(x)
    out["probs"] = jax.nn.softmax(out[net.spec.stages[-1].name])
    return out
