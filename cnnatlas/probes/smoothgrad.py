"""SmoothGrad (Smilkov et al. 2017, arXiv 1706.03825) as a wrapper around any probe.

    SG(x) = (1/n) sum_i M(x + e_i),  e_i ~ N(0, (sigma * (max x - min x))^2)

`smooth(probe, n, sigma)` returns a probe with the same signature, so any method can be smoothed;
the n noisy copies are evaluated as one vmapped call (for gradient bases, one weighted sum of
input gradients, see gradients.py). Noise comes only from `key` (deterministic);
sigma = 0 gives back the base method exactly (up to the mean of n equal maps).

One noise draw per sample (issue 4): the registry marks SmoothGrad `key_per_sample`, so
`batched_grid` passes every class of a sample the same key. All classes of one image are then
averaged over the same n noisy copies, which makes the per-class maps directly comparable (their
differences come from the class, not from different noise), and the noisy copies and their
forward passes do not depend on the class: they are computed once per image and only the
backward passes are batched over classes. `smoothgrad_grid` (the registry's `grid_fn`) takes
all classes of an image in one call; with a gradient base on TinyVGG-like networks its
backward passes run over 2×2 blocks with saved masks and pool routings (blockgrad.py).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..models import Net
from .base import Probe
from .blockgrad import block_input_grads
from .deconvnet import deconvnet
from .gradient_x_input import gradient_x_input
from .gradients import weighted_input_grad
from .guided_backprop import guided_backprop
from .relu_rules import with_rule
from .saliency import saliency

BASES: dict[str, Probe] = {
    "saliency": saliency,
    "gradient_x_input": gradient_x_input,
    "guided_backprop": guided_backprop,
    "deconvnet": deconvnet,
}


# Bases that are an input gradient under a ReLU backward rule (None: the plain gradient), summed
# over channels: their mean over the noisy copies is one weighted sum of input gradients.
GRADIENT_BASES: dict[str, str | None] = {
    "saliency": None,
    "guided_backprop": "guided",
    "deconvnet": "deconvnet",
}


def _noisy_copies(x: jax.Array, key: jax.Array, n: int, sigma: float) -> tuple[jax.Array, ...]:
    """(n, H, W, C) noisy copies of x and (n,) per-copy keys, all from `key`."""
    noise_key, *keys = jax.random.split(key, n + 1)
    scale = jnp.float32(sigma) * (x.max() - x.min())
    xs = x[None] + scale * jax.random.normal(noise_key, (n, *x.shape), x.dtype)
    return xs, jnp.stack(keys)


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
        xs, keys = _noisy_copies(x, key, n, sigma)
        maps = jax.vmap(lambda xi, k: probe(net, xi, target, k, **hp))(xs, keys)
        return maps.mean(axis=0)

    smoothed.__name__ = f"smooth_{getattr(probe, '__name__', 'probe')}"
    return smoothed


def _gradient_inputs(
    net: Net, x: jax.Array, key: jax.Array, base: str, n: int, sigma: float
) -> tuple[Net, jax.Array, jax.Array]:
    """For a gradient base: the net under its ReLU rule, the n noisy copies of x and their
    weights 1/n, as `weighted_input_grad` and `block_input_grads` take them."""
    rule = GRADIENT_BASES[base]
    xs, _ = _noisy_copies(x, key, n, sigma)
    rnet = net if rule is None else with_rule(net, rule)
    return rnet, xs, jnp.full((n,), 1 / n, jnp.float32)


def smoothgrad(
    net: Net, x: jax.Array, target: jax.Array, key: jax.Array, *, base: str, n: int, sigma: float
) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32: smoothed BASES[base] map.

    The noise depends on `key` only, never on `target`: called with one key for all classes of
    an image (as the atlas does), every class sees the same noisy copies.

    For the gradient bases (GRADIENT_BASES) the same noisy copies go through
    `weighted_input_grad`, which applies the first affine stage's backward once to the mean
    instead of n times (exact up to float rounding; tested against `smooth`).
    """
    if base in GRADIENT_BASES:
        return weighted_input_grad(*_gradient_inputs(net, x, key, base, n, sigma), target).sum(-1)
    return smooth(BASES[base], n, sigma)(net, x, target, key)


def smoothgrad_grid(
    net: Net,
    x: jax.Array,
    targets: jax.Array,
    keys: jax.Array,
    *,
    base: str,
    n: int,
    sigma: float,
) -> jax.Array:
    """`smoothgrad` for every target of one image: x (H, W, C), targets (T,), keys (T,) ->
    (T, H, W). The noise comes from keys[0] (`key_per_sample`: one draw for all classes).

    The gradient bases (GRADIENT_BASES) on networks that begin with narrow convolutions, ReLUs
    and 2×2 max-pools take `blockgrad.block_input_grads` (backward passes for all targets over
    2×2 blocks; exact up to float rounding); everything else is `smoothgrad` vmapped over
    targets.
    """
    if base in GRADIENT_BASES:
        grads = block_input_grads(*_gradient_inputs(net, x, keys[0], base, n, sigma), targets)
        if grads is not None:
            return grads.sum(axis=-1)
    one = lambda t: smoothgrad(net, x, t, keys[0], base=base, n=n, sigma=sigma)  # noqa: E731
    return jax.vmap(one)(targets)
