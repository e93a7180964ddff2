"""Weighted sums of input gradients for many targets, with the backward pass written out over
2×2 blocks (SmoothGrad's noisy copies; issue 4, speed).

    G[t] = sum_k w_k d z_t / d x (xs[k])        xs (m, H, W, C), w (m,), targets (T,)

What `gradients.weighted_input_grad` vmapped over targets computes, for networks that begin
with plain narrow convolutions, ReLUs (with the gradient's, guided backprop's or deconvnet's
backward rule, relu_rules.py) and 2×2 max-pools over maps of even size (TinyVGG's blocks; the
head `models.blockrun` runs over blocks). Autodiff of `blockconv`'s lowering
rearranges every convolution's cotangent from pixels to blocks and back, and XLA fused each
max-pool's routing (which of the four pixels won, a function of the point only) into its
consumer, where it was recomputed for every target. Here the forward pass runs in blocks once per
point and keeps, as plain arrays, each ReLU's mask and each pool's routing; the backward pass
for all targets is then, stage by stage in reverse, a transposed block convolution, a mask
multiply, or a routing multiply (a 2×2 max-pool of a blocked map is the maximum over each
block's four pixels, which are its channel groups), with no rearrangement in between. The
stages after the head (flatten, dense, ...) use autodiff. As in `weighted_input_grad`, the
weighted sum over points is taken at the first convolution's output and its transpose applied
once. Exact up to float rounding (tests/probes/test_blockgrad.py).

Measured on a 2-core AVX2 host, TinyVGG, SmoothGrad (25 copies), 32 images, 2 per call,
interleaved in one process, min / median of 6, ms per map: 10 classes 1.42 / 1.57 -> 1.14 /
1.23 (1.31 / 1.36 without `_pin`); 2 classes 1.81 / 2.25 -> 1.88 / 2.04 (the forward pass,
the same work either way, dominates there). What is left is mostly the convolutions: the
second one's transpose alone, over blocks, is ~0.5 ms per map at 10 classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from ..models import Net
from ..models.base import Stage, max_pool_2x2, relu
from ..models.blockconv import NHWC, block_kernel, from_blocks, plain_conv, to_blocks
from ..models.blockrun import blocked_conv
from .relu_rules import deconv_relu, guided_relu

# ReLU ops and their backward rule given the output cotangent g and the saved mask [z > 0]
# (relu_rules.py: the gradient, guided backprop, deconvnet)
RELU_RULES = {
    relu: lambda g, mask: g * mask,
    guided_relu: lambda g, mask: jnp.maximum(g, 0) * mask,
    deconv_relu: lambda g, mask: jnp.maximum(g, 0),
}


@dataclass(frozen=True)
class _Step:
    """One stage of the head. conv: `pads` are the pixel pads applied when it entered from
    pixels (None: from blocks), `size` its input's pixel size; pool: blocks -> pixels."""

    kind: str  # "conv", "relu" or "pool"
    stage: Stage
    pads: tuple | None = None
    size: tuple[int, int] = (0, 0)


def _pin(a: jax.Array) -> jax.Array:
    """a, materialized: a product with the identity (exact at HIGHEST precision), which XLA
    cannot fuse into a consumer. XLA:CPU otherwise fused the pool routing, from the convolution
    output it depends on, into the multiply under the targets axis and recomputed it for every
    target (SmoothGrad at 10 classes: 1.31 vs 1.14 ms per map; `lax.optimization_barrier` is
    removed before fusion there and did not help)."""
    c = a.shape[-1]
    eye = jnp.eye(c, dtype=a.dtype)
    return jnp.matmul(a.reshape(-1, c), eye, precision=lax.Precision.HIGHEST).reshape(a.shape)


def _head(net: Net, xs: jax.Array) -> tuple[list[_Step], list, jax.Array, bool, int]:
    """Run the longest head of the network that stays over blocks, as `blockrun.run` does, on
    points xs (m, H, W, C): (steps, saved masks and routings, the head's output, whether it is
    in blocks, the index of the first stage after the head)."""
    a, blocked, size = xs, False, tuple(xs.shape[1:3])
    steps: list[_Step] = []
    saved: list = []
    for i, stage in enumerate(net.spec.stages):
        p = net.params.get(stage.name)
        if stage.kind == "conv":
            done = blocked_conv(stage, p, a, size, blocked)
            if done is None:
                return steps, saved, a, blocked, i
            pads = None if blocked else plain_conv(stage)[1]  # type: ignore[index]
            steps.append(_Step("conv", stage, pads, size))
            saved.append(None)
            (a, size), blocked = done, True
        elif blocked and stage.kind == "relu" and stage.op in RELU_RULES:
            mask = _pin((a > 0).astype(a.dtype))
            steps.append(_Step("relu", stage))
            saved.append(mask)
            a = a * mask
        elif blocked and stage.kind == "pool" and stage.op is max_pool_2x2:
            m, h, w, c4 = a.shape
            r = a.reshape(m, h, w, 4, c4 // 4)
            top = r.max(axis=3, keepdims=True)
            # lax's gradient of a maximum: split equally between tied pixels
            won = (r == top).astype(a.dtype)
            route = _pin((won / won.sum(axis=3, keepdims=True)).reshape(a.shape))
            steps.append(_Step("pool", stage))
            saved.append(route)
            a, blocked, size = top[:, :, :, 0], False, (h, w)
        else:
            return steps, saved, a, blocked, i
    return steps, saved, a, blocked, len(net.spec.stages)


def _conv_transpose(net: Net, step: _Step, g: jax.Array) -> jax.Array:
    """The input cotangent of a head convolution from its output cotangent g (N, h, w, 4K): in
    blocks, or in pixels (N, H, W, C) when the convolution entered from pixels."""
    kernel = block_kernel(net.params[step.stage.name]["kernel"])
    kb = kernel.shape[0]
    n, h, w, _ = g.shape
    shape = (n, h + kb - 1, w + kernel.shape[1] - 1, kernel.shape[2])

    def conv(a):
        return lax.conv_general_dilated(a, kernel, (1, 1), "VALID", dimension_numbers=NHWC)

    (out,) = jax.linear_transpose(conv, jax.ShapeDtypeStruct(shape, g.dtype))(g)
    if step.pads is None:
        return out
    (top, _), (left, _) = step.pads
    return from_blocks(out)[:, top : top + step.size[0], left : left + step.size[1]]


def block_input_grads(
    net: Net, xs: jax.Array, weights: jax.Array, targets: jax.Array
) -> jax.Array | None:
    """sum_k weights[k] d logits[t] / d x (xs[k]) for each t in targets: xs (m, H, W, C),
    weights (m,), targets (T,) int32 -> (T, H, W, C); None when the network does not begin
    conv -> ReLU over blocks (then use `weighted_input_grad`)."""
    steps, saved, a, blocked, rest = _head(net, xs)
    if len(steps) < 2 or steps[0].kind != "conv" or steps[1].kind != "relu":
        return None
    tail_in = from_blocks(a) if blocked else a
    names = [s.name for s in net.spec.stages]

    def tail_grads(v: jax.Array) -> jax.Array:  # (T, ...) cotangents at the head's output
        def logit(u, t):
            if rest == len(names):
                return u[t]
            return net.run(u, start=names[rest - 1])[t]

        return jax.vmap(lambda t: jax.grad(logit)(v, t))(targets)

    g = jax.vmap(tail_grads)(tail_in)  # (m, T, ...)
    m, n_t = g.shape[:2]
    if blocked:
        g = to_blocks(g.reshape(m * n_t, *g.shape[2:])).reshape(m, n_t, *a.shape[1:])
    for step, keep in zip(steps[:0:-1], saved[:0:-1], strict=True):
        if step.kind == "conv":
            flat = _conv_transpose(net, step, g.reshape(m * n_t, *g.shape[2:]))
            g = flat.reshape(m, n_t, *flat.shape[1:])
        elif step.kind == "relu":
            g = RELU_RULES[step.stage.op](g, keep[:, None])
        else:  # pool: pixels (m, T, h, w, K) -> blocks (m, T, h, w, 4K) by the routing
            shape = keep.shape
            route = keep.reshape(m, 1, *shape[1:3], 4, shape[3] // 4)
            g = (route * g[:, :, :, :, None, :]).reshape(m, n_t, *shape[1:])
    # the weighted sum over points at the first convolution's output, then its transpose once
    total = jnp.sum(weights.reshape(-1, *[1] * (g.ndim - 1)) * g, axis=0)
    return _conv_transpose(net, steps[0], total)
