"""Integrated gradients (Sundararajan, Taly & Yan, ICML 2017, arXiv 1703.01365).

    IG_i(x) = (x_i - x'_i) * integral_0^1 d z_c(x' + a (x - x')) / d x_i da

The integral is a `steps`-point quadrature (midpoint rule by default; "right" is the paper's
Riemann sum, "trapezoid" uses both ends); all path points go through one vmapped gradient, and
the weighted sum is taken before the first (affine) stage's backward, and on networks that begin
conv -> ReLU -> conv before the second convolution's backward too (pathgrad.py: exact).
Baselines x': "black" (zeros) or "blurred" (the input under a Gaussian blur of `blur_sigma`
pixels, Sturmfels et al., Distill 2020). Completeness (sum_i IG_i = z_c(x) - z_c(x')) is
checked per map by `completeness` and stored with it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..models import Net
from .pathgrad import path_input_grads

BASELINES = ("black", "blurred")
RULES = ("midpoint", "right", "trapezoid")


def _gauss_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) row-normalized Gaussian smoothing matrix (borders renormalized, no padding)."""
    i = np.arange(n, dtype=np.float64)
    w = np.exp(-((i[:, None] - i[None, :]) ** 2) / (2 * max(sigma, 1e-6) ** 2))
    return (w / w.sum(axis=1, keepdims=True)).astype(np.float32)


def baseline_for(x: jax.Array, baseline: str, blur_sigma: float) -> jax.Array:
    """The reference image x' (H, W, C) for `baseline`."""
    if baseline == "black":
        return jnp.zeros_like(x)
    bh, bw = _gauss_matrix(x.shape[0], blur_sigma), _gauss_matrix(x.shape[1], blur_sigma)
    return jnp.einsum("ij,jkc,lk->ilc", bh, x, bw)


def _quadrature(steps: int, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """Path positions a_k and weights w_k with sum_k w_k f(a_k) ~ integral_0^1 f(a) da."""
    if rule == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
    if rule == "right":
        return np.arange(1, steps + 1) / steps, np.full(steps, 1 / steps)
    w = np.full(steps + 1, 1 / steps)
    w[[0, -1]] /= 2
    return np.linspace(0, 1, steps + 1), w


def integrated_gradients(
    net: Net,
    x: jax.Array,
    target: jax.Array,
    key: jax.Array,
    *,
    steps: int,
    baseline: str,
    blur_sigma: float,
    rule: str,
) -> jax.Array:
    """x (H, W, C) float32, target class int32 -> (H, W) float32, signed, sums to ~ z(x) - z(x')."""
    hp = {"steps": steps, "baseline": baseline, "blur_sigma": blur_sigma, "rule": rule}
    return integrated_gradients_grid(net, x, target[None], key[None], **hp)[0]


def integrated_gradients_grid(
    net: Net,
    x: jax.Array,
    targets: jax.Array,
    keys: jax.Array,
    *,
    steps: int,
    baseline: str,
    blur_sigma: float,
    rule: str,
) -> jax.Array:
    """x (H, W, C), targets (T,) int32 -> (T, H, W): every target of one sample in one call
    (`ProbeSpec.grid_fn`; pathgrad.path_input_grads shares its tables across targets)."""
    del keys  # deterministic
    ref = baseline_for(x, baseline, blur_sigma)
    alphas, weights = (jnp.asarray(a, jnp.float32) for a in _quadrature(steps, rule))
    grads = path_input_grads(net, ref, x, alphas, weights, targets)  # (T, H, W, C)
    return ((x - ref)[None] * grads).sum(axis=-1)


def completeness(
    net: Net,
    x: jax.Array,
    target: jax.Array,
    attribution: jax.Array,
    *,
    baseline: str,
    blur_sigma: float,
    **_: object,
) -> jax.Array:
    """(3,) float32: [sum of attributions, z(x) - z(x'), relative error |sum - delta| / |delta|]."""
    total = attribution.sum()
    delta = net.run(x)[target] - net.run(baseline_for(x, baseline, blur_sigma))[target]
    err = jnp.abs(total - delta) / jnp.maximum(jnp.abs(delta), jnp.float32(1e-6))
    return jnp.stack([total, delta, err])
