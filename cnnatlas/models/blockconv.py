"""A faster lowering of narrow convolutions for XLA:CPU: 3×3 (or larger) kernels over 2×2 blocks.

XLA:CPU's convolution (Eigen) is a matrix product with K = kh·kw·C_in and N = C_out. With
TinyVGG's 10 channels N does not fill one AVX-512 vector, and the convolutions ran at 30–40
GFLOP/s: they were most of a training step and of every attribution method (issues 4 and 10).

A stride-1 convolution is the same as a convolution over 2×2 pixel blocks ("space-to-depth", the
polyphase form of a filter): rearrange x (N, H, W, C) to (N, H/2, W/2, 4C), convolve it with a
⌈(k+1)/2⌉-square kernel of 4C -> 4K channels whose entries are the original kernel's (or zero),
and rearrange the (N, oh/2, ow/2, 4K) result back. For a 3×3 kernel that is a 2×2 kernel over
40 -> 40 channels: 1.78× the multiply-adds, but at 130–155 GFLOP/s. Measured at batch 128, 3×3,
forward and (input + kernel gradient), XLA flags of `jaxsetup`, milliseconds:

| convolution            | lax fwd | lax bwd | block fwd | block bwd |
|------------------------|---------|---------|-----------|-----------|
| 28×28, 1 -> 10         | 2.00    | 7.66    | 0.57      | 2.30      |
| 26×26, 10 -> 10        | 3.40    | 8.36    | 1.88      | 5.25      |
| 12×12, 10 -> 10        | 0.61    | 1.74    | 0.36      | 0.92      |
| 26×26, 12 -> 12        | 3.54    | 8.06    | 2.14      | 5.97      |
| 26×26, 16 -> 16        | 3.16    | 9.73    | 5.20      | 13.57     |
| 26×26, 10 -> 16        | 3.13    | 7.59    | 2.42      | 11.90     |
| 28×28, 10 -> 10, 5×5   | 6.45    | 21.15   | 4.57      | 10.46     |
| 28×28, 10 -> 10, 2×2   | 2.15    | 4.78    | 2.34      | 6.13      |

so it is used for kernels of at least 3×3 with at most `MAX_CHANNELS` = 12 input and output
channels; everything else (wider layers, 1×1 and 2×2 kernels, strides, dilation, groups, other
layouts or dtypes) goes to lax unchanged. On TinyVGG, interleaved in one process, a training
step went from 17.8 ms (lax) to 11.6 ms (`benchmarks/bench_lowering.py`), integrated gradients
from 4.06 to 2.66 ms per map and SmoothGrad from 1.62 to 0.95 (64 images × 10 classes). With
XLA's YNNPACK fusions on (jaxlib's default; `jaxsetup` turns them off) YNNPACK takes these
block convolutions and runs the 10-channel forward one 2× slower. Values equal lax's up to
float summation order (~4e-7 relative); the block kernel is a linear function of the original
one, so autodiff of any order needs no custom rule. The parameter tree is nn.Conv's:
`nn.Conv(..., conv_general_dilated=conv_general_dilated)` is the whole change
(`blockconv_spec`). Inside `lax.scan` (a while loop) XLA:CPU ran these convolutions ~16× slower
(the generic emitter; see `optvis/loopconv.py`), so training keeps one jitted call per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .base import ModelSpec, Net

MAX_CHANNELS = 12  # input and output channels up to which the block lowering is used (measured)
MIN_KERNEL = 3  # smaller kernels grow too much over blocks (2×2: 4× the work; measured slower)
NHWC = ("NHWC", "HWIO", "NHWC")


@cache
def _selector(k: int) -> np.ndarray:
    """S (kb, 2, 2, k) with S[I, d, o, r] = 1 where block offset I, input phase d and output
    phase o read kernel tap r = 2I + d - o; kb = ⌈(k+1)/2⌉ block taps cover a k-tap kernel."""
    kb = (k + 2) // 2
    s = np.zeros((kb, 2, 2, k), np.float32)
    for i in range(kb):
        for d in range(2):
            for o in range(2):
                if 0 <= 2 * i + d - o < k:
                    s[i, d, o, 2 * i + d - o] = 1.0
    return s


def block_kernel(w: jax.Array) -> jax.Array:
    """The kernel w (kh, kw, C, K) over 2×2 blocks: (kbh, kbw, 4C, 4K), channels ordered
    (row phase, column phase, channel) as `to_blocks` orders them."""
    kh, kw, c, k = w.shape
    sh, sw = _selector(kh), _selector(kw)
    # exact: every entry is one tap of w or 0, whatever the matmul precision
    wb = jnp.einsum("IapR,JbqS,RSco->IJabcpqo", sh, sw, w, precision=lax.Precision.HIGHEST)
    return wb.reshape(sh.shape[0], sw.shape[0], 4 * c, 4 * k)


def to_blocks(x: jax.Array) -> jax.Array:
    """(N, H, W, C) with H, W even -> (N, H/2, W/2, 4C): each 2×2 block's pixels as channels."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h // 2, w // 2, 4 * c)


def from_blocks(y: jax.Array) -> jax.Array:
    """The inverse of `to_blocks`: (N, h, w, 4K) -> (N, 2h, 2w, K)."""
    n, h, w, c = y.shape
    y = y.reshape(n, h, w, 2, 2, c // 4).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, c // 4)


def block_conv(x: jax.Array, w: jax.Array, precision: Any = None) -> jax.Array:
    """Valid stride-1 convolution of x (N, H, W, C) with w (kh, kw, C, K) -> (N, oh, ow, K),
    computed over 2×2 blocks. An odd output size is rounded up with zero rows (and cropped)."""
    kh, kw = w.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    # input rows the blocks read: (⌈oh/2⌉ + kb - 1) blocks of 2
    need = (2 * ((oh + 1) // 2 + (kh + 2) // 2 - 1), 2 * ((ow + 1) // 2 + (kw + 2) // 2 - 1))
    x = x[:, : need[0], : need[1]]
    x = jnp.pad(x, ((0, 0), (0, need[0] - x.shape[1]), (0, need[1] - x.shape[2]), (0, 0)))
    y = lax.conv_general_dilated(to_blocks(x), block_kernel(w), (1, 1), "VALID",
                                 dimension_numbers=NHWC, precision=precision)  # fmt: skip
    return from_blocks(y)[:, :oh, :ow]


def explicit_pads(padding: Any, kernel: Sequence[int]) -> tuple[tuple[int, int], ...] | None:
    """lax's padding argument as ((lo, hi), ...) per spatial dim; None for one it cannot read."""
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


def plain_conv(stage: Any) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]] | None:
    """(kernel size, pads) of a stage that is a plain 2-D `nn.Conv` (stride 1, undilated,
    ungrouped, unmasked, float32, lax's convolution or this module's lowering of it, padding lax
    can read), else None: the convolutions that code re-implementing a stage
    (`models.blockrun`, `trust.incremental`, `probes.pathgrad`) can compute from its kernel,
    pads and bias alone."""
    m = stage.module
    if stage.kind != "conv" or stage.stateful or type(m) is not nn.Conv:
        return None
    ones = (None, 1, (1, 1))
    if (
        len(m.kernel_size) != 2
        or any(v not in ones for v in (m.strides, m.input_dilation, m.kernel_dilation))
        or m.feature_group_count != 1
        or m.mask is not None
        # the user's own convolution stays theirs; this module's lowering computes lax's
        or m.conv_general_dilated not in (None, conv_general_dilated)
        or m.dtype not in (None, jnp.float32)
    ):
        return None
    padding = ((m.padding, m.padding),) * 2 if isinstance(m.padding, int) else m.padding
    try:
        pads = explicit_pads(padding, m.kernel_size)
    except (TypeError, ValueError):  # a padding form flax resolves itself ("CIRCULAR", ...)
        return None
    return None if pads is None else (tuple(m.kernel_size), pads)  # type: ignore[return-value]


def covered(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int], padding: Any,
            lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
            dimension_numbers: Any = None, feature_group_count: int = 1,
            batch_group_count: int = 1, preferred_element_type: Any = None) -> bool:  # fmt: skip
    """Whether `conv_general_dilated` with these arguments takes the block lowering."""
    pads = explicit_pads(padding, rhs.shape[:2]) if rhs.ndim == 4 else None
    return (
        lhs.ndim == 4
        and pads is not None
        and all(lo >= 0 and hi >= 0 for lo, hi in pads)  # negative padding crops: lax's
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC)
        and rhs.shape[2] == lhs.shape[3]
        and max(rhs.shape[2], rhs.shape[3]) <= MAX_CHANNELS
        and min(rhs.shape[:2]) >= MIN_KERNEL
        and all(s == 1 for s in window_strides)
        and all(d == 1 for d in (lhs_dilation or (1, 1)))
        and all(d == 1 for d in (rhs_dilation or (1, 1)))
        and feature_group_count == 1
        and batch_group_count == 1
        and preferred_element_type is None
        and lhs.dtype == rhs.dtype == jnp.float32
    )


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
    """Drop-in for `lax.conv_general_dilated` (the signature flax's nn.Conv calls): the block
    lowering where `covered`, lax for everything else."""
    args = (lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
            feature_group_count, batch_group_count)  # fmt: skip
    if not covered(*args, preferred_element_type=preferred_element_type):
        return lax.conv_general_dilated(*args, precision, preferred_element_type)
    pads = explicit_pads(padding, rhs.shape[:2])
    if any(lo or hi for lo, hi in pads):
        lhs = jnp.pad(lhs, ((0, 0), *pads, (0, 0)))
    return block_conv(lhs, rhs, precision)


@cache
def blockconv_spec(spec: ModelSpec) -> ModelSpec:
    """`spec` with every plain `nn.Conv` stage using this module's lowering (cached: one object
    per spec, so a jitted function compiles once). Same parameters; the convolutions it does not
    cover stay lax's. Nothing is patched, like `ModelSpec.with_relu`."""

    def swap(module: object) -> object:
        if isinstance(module, nn.Conv) and module.conv_general_dilated is None:
            return module.clone(conv_general_dilated=conv_general_dilated)
        return module

    return replace(spec, stages=tuple(replace(s, module=swap(s.module)) for s in spec.stages))


def blockconv_net(net: Net) -> Net:
    """`net` (same parameters) under `blockconv_spec`: call it inside a jitted function, where
    it costs nothing at run time (the spec is static)."""
    return Net(net.params, blockconv_spec(net.spec))
