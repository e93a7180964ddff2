"""Weighted sums of input gradients along a straight path, with the first ReLU's switch points
(integrated gradients; issue 4, speed).

    G = sum_k w_k d z_target / d x (x' + a_k (x - x'))      0 <= a_0 < a_1 < ... < a_{m-1} <= 1

When the network begins affine stage A1 -> ReLU -> convolution C2 (TinyVGG: conv_1_1 -> relu_1_1
-> conv_1_2), the ReLU's input A1(x' + a (x - x')) is affine in a, so each of its units u is on
for a contiguous run of path points: a suffix k >= j(u) where it rises along the path, a prefix
k < n_on(u) where it falls. With g_k the gradient at C2's output at point k (the backward pass
of the rest of the network) and the suffix sums S_j = sum_{k >= j} w_k g_k (S_m = 0),

    sum_k w_k [u on at k] (C2^T g_k)(u) = (C2^T S_j(u))(u)                    rising units
                                        = (C2^T S_0)(u) - (C2^T S_n_on(u))(u)   falling units

and one value of C2^T at one unit is a dot product of C2's kernel with a kh×kw patch of one S_j.
So C2's transposed convolution, 70 % of the multiply-adds of every path point's backward pass
on TinyVGG, runs once (on S_0) instead of m times: the m backward passes stop at C2's output,
then one gathered dot per unit and one transposed A1 (as `gradients.weighted_input_grad` does).
Exact up to float rounding (tests/probes/test_pathgrad.py); any other network, or a ReLU with a
modified backward rule, takes `weighted_input_grad`. Measured on a 2-core AVX2 host, TinyVGG,
one image per call, interleaved in one process (min / median of 6, ms per map): 50 steps × 10
classes 3.33 / 3.37 before, 2.37 / 2.45 with the switch points vmapped over targets, 1.77 / 1.90
with all targets in one call (`path_input_grads`; CPU time 6.4 -> 3.2); the atlas default, 128
steps × 2 classes, 10.5 / 11.0 -> 7.0 / 7.5 -> 6.6 / 7.3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ..models import Net
from ..models.base import relu
from ..models.blockconv import plain_conv
from .gradients import AFFINE_KINDS, weighted_input_grad

# path points per block of the suffix sums. Measured at m = 50: 10 and 13 alike, 25 and 50 up to
# 15 % slower, 5 and 7 1.5-2.5x slower (XLA fused their chains differently)
BLOCK = 10


def switch_geometry(net: Net) -> tuple[str, str, str, tuple] | None:
    """(A1, ReLU, C2 stage names, C2's pads) when `net` begins affine -> plain ReLU -> plain 2-D
    convolution (`blockconv.plain_conv`), else None."""
    st = net.spec.stages
    if len(st) < 4 or st[0].kind not in AFFINE_KINDS or st[1].kind != "relu":
        return None
    conv = plain_conv(st[2])
    if st[1].op is not relu or conv is None:  # a modified backward rule: other masks
        return None
    return st[0].name, st[1].name, st[2].name, conv[1]


def suffix_sums(v: jax.Array) -> jax.Array:
    """S (m + 1, ...) with S[j] = sum_{k >= j} v[k] (S[m] = 0), for v (m, ...).

    Chains of adds within blocks of BLOCK points, then over the block totals: jnp.cumsum lowers
    to a reduce-window that XLA:CPU runs in O(m^2) (~12x slower here), and one chain over all m
    points ran ~25 % slower than blocks (fusions that recompute their inputs)."""
    m = v.shape[0]
    nb = -(-m // BLOCK)
    v = jnp.concatenate([v, jnp.zeros((nb * BLOCK - m, *v.shape[1:]), v.dtype)])
    blocks = v.reshape(nb, BLOCK, *v.shape[1:])
    run = [jnp.zeros_like(blocks[:, 0])]
    for k in range(BLOCK - 1, -1, -1):
        run.append(run[-1] + blocks[:, k])
    within = jnp.stack(run[:0:-1], axis=1)  # (nb, BLOCK, ...): sums from k to its block's end
    after = [jnp.zeros_like(v[0])]
    for b in range(nb - 1, 0, -1):
        after.append(after[-1] + run[-1][b])
    after = jnp.stack(after[::-1])  # (nb, ...): sums of the blocks after block b
    out = (within + after[:, None]).reshape(nb * BLOCK, *v.shape[1:])[:m]
    return jnp.concatenate([out, jnp.zeros_like(v[:1])])


def _transposed_at(table: jax.Array, kernel: jax.Array, pads, index: jax.Array) -> jax.Array:
    """(C2^T table[index[u]])(u) for every unit u = (y, x, c) of C2's input and every target:
    table (J, oh, ow, K, T) gradients at C2's output, kernel (kh, kw, C, K), index (h, w, C)
    int32 -> (h, w, C, T)."""
    kh, kw, _, k_out = kernel.shape
    n_targets = table.shape[-1]
    (lo_h, hi_h), (lo_w, hi_w) = pads
    # d out[p] / d in[y] = sum_dy kernel[dy] out[y - dy + lo]: padded, rows y .. y + kh - 1 of
    # the table are out[y - dy + lo] for dy = kh - 1 .. 0
    pad_h, pad_w = (kh - 1 - lo_h, kh - 1 - hi_h), (kw - 1 - lo_w, kw - 1 - hi_w)
    padded = jnp.pad(table, ((0, 0), pad_h, pad_w, (0, 0), (0, 0)))
    h, w, c = index.shape

    def patch(j: jax.Array, y: jax.Array, x: jax.Array) -> jax.Array:
        return lax.dynamic_slice(padded, (j, y, x, 0, 0), (1, kh, kw, k_out, n_targets))[0]

    # one (kh, kw, K, T) window per unit (~5 % faster than one gathered row per tap), then a
    # multiply and a sum that XLA fuses the gather into (an einsum there became a dot over
    # copies, 4x slower in total)
    ys, xs, _ = jnp.indices(index.shape)
    patches = jax.vmap(patch)(index.reshape(-1), ys.reshape(-1), xs.reshape(-1))
    patches = patches.reshape(h, w, c, kh, kw, k_out, n_targets)
    flipped = jnp.transpose(kernel[::-1, ::-1], (2, 0, 1, 3))  # (C, kh, kw, K), taps reversed
    return (patches * flipped[None, None, ..., None]).sum(axis=(3, 4, 5))


def path_input_grads(
    net: Net,
    ref: jax.Array,
    x: jax.Array,
    alphas: jax.Array,
    weights: jax.Array,
    targets: jax.Array,
) -> jax.Array:
    """sum_k weights[k] d logits[t] / d x at ref + alphas[k] (x - ref), for each t in targets:
    ref, x (H, W, C), alphas (m,) increasing, weights (m,), targets (T,) int32 -> (T, H, W, C).

    All targets in one call, with the targets axis last in the tables (a vmap over targets
    would put it first): each unit's window is then T times longer and the gather and sum
    vectorize over targets, 20-25 % faster per map at 10 targets than vmapping one target."""
    path = ref[None] + alphas[:, None, None, None] * (x - ref)[None]  # (m, H, W, C)
    names = switch_geometry(net)
    if names is None:
        over_targets = jax.vmap(weighted_input_grad, in_axes=(None, None, None, 0))
        return over_targets(net, path, weights, targets)
    a1, r1, c2, pads = names
    m = path.shape[0]
    z1 = jax.vmap(lambda v: net.run(v, stop=a1))(path)  # (m, h, w, C): the ReLU's input
    act = jax.vmap(lambda v: net.run(v, start=a1, stop=r1))(z1)
    z2 = jax.vmap(lambda v: net.run(v, start=r1, stop=c2))(act)

    def grads(t: jax.Array) -> jax.Array:  # (m, oh, ow, K): the backward passes stop at C2
        return jax.vmap(jax.grad(lambda v: net.run(v, start=c2)[t]))(z2)

    g2 = jnp.moveaxis(jax.vmap(grads)(targets), 0, -1)  # (m, oh, ow, K, T)
    sums = suffix_sums(weights.reshape(-1, *[1] * (g2.ndim - 1)) * g2)  # (m + 1, oh, ow, K, T)
    n_on = jnp.sum(z1 > 0, axis=0)
    rising = z1[-1] >= z1[0]
    picked = _transposed_at(sums, net.params[c2]["kernel"], pads, jnp.where(rising, m - n_on, n_on))
    _, pull2 = jax.vjp(lambda v: net.run(v, start=r1, stop=c2), act[0])  # C2^T: linear
    full = jax.vmap(lambda g: pull2(g)[0], in_axes=-1, out_axes=-1)(sums[0])  # (h, w, C, T)
    # units on at every point or at none take the exact values (no rounding in full - picked)
    n_on, rising = n_on[..., None], rising[..., None]
    grad = jnp.where(rising, picked, full - picked)
    grad = jnp.where(n_on == m, full, jnp.where(n_on == 0, 0.0, grad))
    _, pull1 = jax.vjp(lambda v: net.run(v, stop=a1), x)  # A1^T: the same at any point
    return jax.vmap(lambda g: pull1(g)[0], in_axes=-1)(grad)
