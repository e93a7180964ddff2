"""SmoothGrad (Smilkov et al. 2017, arXiv 1706.03825) as a wrapper around any probe.

    SG(x) = (1/n) sum_i M(x + e_i),  e_i ~ N(0, (sigma * (max x - min x))^2)

`smooth(probe, n, sigma)` returns a probe with the same signature, so any method can be smoothed;
the n noisy copies are evaluated as one vmapped call. Noise comes only from `key` (deterministic);
sigma = 0 gives back the base method exactly (up to the mean of n equal maps).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..models import Net
from .base import Probe
from .deconvnet import deconvnet
from .gradient_x_input import gradient_x_input
from .guided_backprop import guided_backprop
from .saliency import saliency

BASES: dict[str, Probe] = {
    "saliency": saliency,
    "gradient_x_input": gradient_x_input,
    "guided_backprop": guided_backprop,
    "deconvnet": deconvnet,
}


def smooth(probe: Probe, n: int, sigma: float) -> Probe:
    """The SmoothGrad version of `probe`: the mean of `probe` over n noisy copies of x.

    Args:
      probe: any probe(net, x, target, key, **hparams) -> Array.
      n: number of noisy samples (static).
      sigma: noise standard deviation as a fraction of the input's value range (max - min).
    Returns:
      A probe with the same signature and output shape.
    """

    def smoothed(net: Net, x: jax.Array, target: jax.Array, key: jax.Array, **hp) -> jax.Array:
        noise_key, *keys = jax.random.split(key, n + 1)
        scale = jnp.float32(sigma) * (x.max() - x.min())
        xs = x[None] + scale * jax.random.normal(noise_key, (n, *x.shape), x.dtype)
        maps = jax.vmap(lambda xi, k: probe(net, xi, target, k, **hp))(xs, jnp.stack(keys))
        return maps.mean(axis=0)

    smoothed.__name__ = f"smooth_{getattr(probe, '__name__', 'probe')}"
    return smoothed


def smoothgrad(
    net: Net, x: jax.Array, target: jax.Array, key: jax.Array, *, base: str, n: int, sigma: float
) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32: smoothed BASES[base] map."""
    return smooth(BASES[base], n, sigma)(net, x, target, key)
