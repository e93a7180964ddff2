"""A copy of a net whose convolutions stay fast inside `lax.scan` on XLA:CPU.

The input gradient of a convolution is itself a convolution with the flipped kernel, which JAX
expresses with swapped kernel dimensions (HWOI, HLO `dim_labels=..._01oi`). Outside loops XLA:CPU
rewrites that into its fast HWIO form; inside a while loop it does not, and the generic emitter
ran that convolution ~5× slower (measured: 200 iterations of a (10, 26, 26, 10) 3×3 conv, 1.30 s
HWOI vs 0.26 s HWIO). `loop_friendly(net)` swaps every stride-1 `nn.Conv` stage for `LoopConv`,
same parameters and values, whose custom VJP flips and transposes the kernel explicitly, so the
gradient convolution is HWIO. Nothing is patched: it returns a new spec, like `with_relu`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, partial

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..models import ModelSpec, Net

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, w: jax.Array, pads: tuple[tuple[int, int], ...]) -> jax.Array:
    return jax.lax.conv_general_dilated(x, w, (1, 1), pads, dimension_numbers=_DN)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv_hwio(x: jax.Array, w: jax.Array, pads: tuple[tuple[int, int], ...]) -> jax.Array:
    """Stride-1 conv of x (N, H, W, C) with w (kh, kw, C, K); explicit padding per axis."""
    return _conv(x, w, pads)


def _fwd(x, w, pads):
    return _conv(x, w, pads), (x, w)


def _bwd(pads, res, g):
    x, w = res
    kh, kw = w.shape[:2]
    back = jnp.transpose(jnp.flip(w, (0, 1)), (0, 1, 3, 2))  # (kh, kw, K, C): HWIO again
    dpads = ((kh - 1 - pads[0][0], kh - 1 - pads[0][1]), (kw - 1 - pads[1][0], kw - 1 - pads[1][1]))
    dx = _conv(g, back, dpads)
    _, vjp_w = jax.vjp(lambda w: _conv(x, w, pads), w)  # unused by optvis, so XLA drops it
    return dx, vjp_w(g)[0]


conv_hwio.defvjp(_fwd, _bwd)


class LoopConv(nn.Module):
    """`nn.Conv` (stride 1, no dilation or groups) with the loop-friendly VJP; same params."""

    features: int
    kernel_size: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel",
            nn.initializers.lecun_normal(),
            (*self.kernel_size, x.shape[-1], self.features),
        )
        unbatched = x.ndim == 3
        y = conv_hwio(x[None] if unbatched else x, kernel, self.pads)
        y = y[0] if unbatched else y
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros, (self.features,))
            y = y + bias.reshape((1,) * (y.ndim - 1) + (self.features,))
        return y


def _pads(conv: nn.Conv) -> tuple[tuple[int, int], tuple[int, int]] | None:
    k = tuple(conv.kernel_size)
    if conv.padding == "VALID":
        return ((0, 0), (0, 0))
    if conv.padding == "SAME" and all(n % 2 for n in k):
        return ((k[0] // 2, k[0] // 2), (k[1] // 2, k[1] // 2))
    return None


def _eligible(m: object) -> bool:
    if not isinstance(m, nn.Conv) or len(m.kernel_size) != 2 or _pads(m) is None:
        return False
    ones = (None, 1, (1, 1))
    return (
        m.strides in ones
        and m.input_dilation in ones
        and m.kernel_dilation in ones
        and m.feature_group_count == 1
    )


@cache
def loop_friendly_spec(spec: ModelSpec) -> ModelSpec:
    """`spec` with eligible conv stages replaced by LoopConv (cached: one object per spec)."""
    stages = tuple(
        replace(
            s,
            module=LoopConv(
                s.module.features, tuple(s.module.kernel_size), _pads(s.module), s.module.use_bias
            ),
        )
        if _eligible(s.module)
        else s
        for s in spec.stages
    )
    return replace(spec, stages=stages)


def loop_friendly(net: Net) -> Net:
    """The same function as `net` (same params), with scan-friendly convolution gradients."""
    return Net(net.params, loop_friendly_spec(net.spec))
