"""A faster lowering of the convolutions that read few channels (the input layer), for XLA:CPU.

XLA:CPU's convolution (Eigen) packs its input into a matrix product with K = kh·kw·C_in; with one
input channel (grey images) that product has K = 9 and ran at ~4 GFLOP/s: TinyVGG's first layer
(28×28×1 -> 26×26×10, batch 128) took ~4.0 ms forward and ~6.8 ms for its input gradient, as
much as its 10-channel second layer at a ninth of the work (issue 10). For C_in ≤ `MAX_CHANNELS`
this module computes the same convolution as

- forward: a sum of kh·kw·C_in shifted slices times a kernel row, one elementwise loop fusion
  (0.5 ms instead of 4.0);
- input gradient: the transpose of a patch matrix product (kh·kw shifted slices stacked on a new
  axis, times the kernel as a (kh·kw·C_in, C_out) matrix), 0.7 ms instead of 6.8;
- kernel gradient: XLA's own convolution transpose (1.1 ms, already fine).

`custom_jvp` ties them together (so it works under vmap, grad, jvp and their compositions), the
values equal `lax.conv_general_dilated` up to float summation order, and the parameter tree is
nn.Conv's: `nn.Conv(..., conv_general_dilated=conv_general_dilated)` is the whole change.
Everything else (more channels, strides, dilation, groups, other layouts) goes to lax unchanged.

Used through `elementwise_spec`: by training (a TinyVGG train step went from 37.2 to 33.4 ms of
CPU time, best of 6 interleaved rounds, same process, XLA flags of jaxsetup), by the forward-only
passes of `train.predict` and of the deletion/insertion curves (1.35× and 1.4×), and by the
probes whose `ProbeSpec.elementwise_input_conv` is set (probes/base.py), as measured per method
(300 images × 10 classes, interleaved, at bench_attribution.py's chunks): Grad-CAM 1.25×, the
input gradients 1.7×, occlusion 1.35× per map. Integrated gradients and SmoothGrad, whose
first-stage backward is one transposed product of a weighted sum (probes/gradients.py), keep
lax's convolution: with this lowering they measured 0.9× and 0.33× (cause not found yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from .base import ModelSpec, Net

MAX_CHANNELS = 1  # C_in up to which the elementwise lowering is used (measured: see docstring)
_NHWC = ("NHWC", "HWIO", "NHWC")


def _shifts(x: jax.Array, kh: int, kw: int) -> list[jax.Array]:
    """The kh·kw shifted (N, oh, ow, C) windows of x (N, H, W, C), row-major over (i, j)."""
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return [x[:, i : i + oh, j : j + ow, :] for i in range(kh) for j in range(kw)]


def _elementwise(x: jax.Array, w: jax.Array) -> jax.Array:
    """Valid stride-1 conv of x (N, H, W, C) with w (kh, kw, C, K) as Σ_ijc x[.., c] · w[i, j, c]:
    (N, oh, ow, K), one loop fusion."""
    kh, kw, c_in, _ = w.shape
    terms = [
        s[..., c : c + 1] * w[i // kw, i % kw, c].reshape(1, 1, 1, -1)
        for i, s in enumerate(_shifts(x, kh, kw))
        for c in range(c_in)
    ]
    return sum(terms[1:], terms[0])


def _patch_product(x: jax.Array, w: jax.Array) -> jax.Array:
    """The same convolution as patches (N, oh, ow, kh·kw·C) @ w (kh·kw·C, K); linear in x, and its
    transpose (the input gradient) is one small matrix product plus kh·kw padded adds."""
    kh, kw, c_in, k = w.shape
    p = jnp.stack(_shifts(x, kh, kw), axis=-2)  # (N, oh, ow, kh·kw, C)
    return p.reshape(*p.shape[:-2], kh * kw * c_in) @ w.reshape(kh * kw * c_in, k)


def _lax_valid(x: jax.Array, w: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=_NHWC)


@jax.custom_jvp
def valid_conv(x: jax.Array, w: jax.Array) -> jax.Array:
    """Valid stride-1 conv, x (N, H, W, C) NHWC, w (kh, kw, C, K) HWIO -> (N, oh, ow, K)."""
    return _elementwise(x, w)


def _valid_conv_jvp(primals, tangents):
    x, w = primals
    dx, dw = tangents
    y = _elementwise(x, w)
    # Symbolic zeros (an input that is data, or a frozen kernel) are skipped, not computed.
    terms = []
    if not isinstance(dx, SymbolicZero):
        terms.append(_patch_product(dx, w))
    if not isinstance(dw, SymbolicZero):
        terms.append(_lax_valid(x, dw))
    return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


valid_conv.defjvp(_valid_conv_jvp, symbolic_zeros=True)


def explicit_pads(padding: Any, kernel: Sequence[int]) -> tuple[tuple[int, int], ...] | None:
    if isinstance(padding, str):
        if padding == "VALID":
            return tuple((0, 0) for _ in kernel)
        if padding in ("SAME", "SAME_LOWER"):
            pads = []
            for k in kernel:
                lo, hi = (k - 1) // 2, k - 1 - (k - 1) // 2
                pads.append((hi, lo) if padding == "SAME_LOWER" else (lo, hi))
            return tuple(pads)
        return None
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: Any,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """Drop-in for `lax.conv_general_dilated` (the signature flax's nn.Conv calls): the
    elementwise lowering for 2-D stride-1 NHWC/HWIO convolutions over ≤ MAX_CHANNELS input
    channels, lax for everything else."""
    pads = explicit_pads(padding, rhs.shape[:-2]) if rhs.ndim == 4 else None
    plain = (
        lhs.ndim == 4
        and pads is not None
        and lhs.shape[-1] <= MAX_CHANNELS
        and rhs.shape[-2] == lhs.shape[-1]
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
        and all(s == 1 for s in window_strides)
        and all(d == 1 for d in (lhs_dilation or (1, 1)))
        and all(d == 1 for d in (rhs_dilation or (1, 1)))
        and feature_group_count == 1
        and batch_group_count == 1
        and preferred_element_type is None
        and lhs.dtype == rhs.dtype == jnp.float32
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
        )
    if any(lo or hi for lo, hi in pads):
        lhs = jnp.pad(lhs, ((0, 0), *pads, (0, 0)))
    return valid_conv(lhs, rhs)


@cache
def elementwise_spec(spec: ModelSpec) -> ModelSpec:
    """`spec` with every plain `nn.Conv` stage using this module's lowering (cached: one object
    per spec, so a jitted step compiles once). Same parameters; the convolutions it does not
    cover stay lax's. Nothing is patched, like `ModelSpec.with_relu`."""

    def swap(module: object) -> object:
        if isinstance(module, nn.Conv) and module.conv_general_dilated is None:
            return module.clone(conv_general_dilated=conv_general_dilated)
        return module

    return replace(spec, stages=tuple(replace(s, module=swap(s.module)) for s in spec.stages))


def elementwise_net(net: Net) -> Net:
    """`net` (same parameters) under `elementwise_spec`: call it inside a jitted function, where
    it costs nothing at run time (the spec is static)."""
    return Net(net.params, elementwise_spec(net.spec))
