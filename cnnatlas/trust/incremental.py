"""Deletion and insertion probabilities by windowed recomputation (issue 10: the trust stage at
1-pixel steps was the largest part of a cold build, and over 2 h at 10,000 samples).

Between two steps of a curve only `step` pixels change. In a network that begins
conv -> ReLU -> conv (TinyVGG and its variants), a pixel changes the first convolution's output
in a k1×k1 window and the second's in a (k1+k2-1)² window, so one `lax.scan` over the steps
carries the current image and the second convolution's output, recomputes only those windows
(for TinyVGG: 9×9 input pixels -> 7×7×10 -> 5×5×10, ~25 k multiply-adds instead of the ~0.5 M
of its second convolution over 24×24) and runs the rest of the network in full. The values equal
the full forward pass up to float summation order (tested against `deletion`'s batched path).

Measured on the 2-core CPU (100 samples, both curves; the full path run in the same process):
1-pixel steps 4.8-5.1 s -> 2.2-2.9 s per map set (bench_trust.py); steps of 4, 8, 12 and 16
pixels 1.8×, 1.5×, 1.2× and 0.84× as fast. Each step recomputes `step` windows one after
another, so `deletion.curves` uses this for step <= MAX_STEP, on CPU (the accelerators' full
batched forward passes are not sequential and were not measured against it), and for networks
`geometry` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import devices
from ..batching import chunk_size, map_chunks
from ..models import Net
from ..models.base import relu
from ..models.inputconv import explicit_pads, valid_conv

MAX_STEP = 12  # pixels per step up to which windows beat full forward passes (docstring)
CHUNK = 256  # curves per scan


@dataclass(frozen=True)
class Geometry:
    """The first two convolutions: stage names, kernel sizes (kh, kw) and their (lo, hi) pads."""

    first: str
    second: str
    k1: tuple[int, int]
    k2: tuple[int, int]
    pads1: tuple[tuple[int, int], tuple[int, int]]
    pads2: tuple[tuple[int, int], tuple[int, int]]


def _plain_conv(stage) -> tuple[tuple[int, int], tuple] | None:
    """(kernel size, pads) of a 2-D stride-1, undilated, ungrouped nn.Conv stage, else None."""
    m = stage.module
    if stage.kind != "conv" or not isinstance(m, nn.Conv) or len(m.kernel_size) != 2:
        return None
    ones = (None, 1, (1, 1))
    if any(v not in ones for v in (m.strides, m.input_dilation, m.kernel_dilation)):
        return None
    try:
        pads = explicit_pads(m.padding, m.kernel_size)
    except (TypeError, ValueError):  # an int or a per-axis int: not worth a case of its own
        pads = None
    if m.feature_group_count != 1 or pads is None or stage.stateful:
        return None
    return tuple(m.kernel_size), pads  # type: ignore[return-value]


def geometry(net: Net) -> Geometry | None:
    """The windows' geometry when `net` begins conv -> ReLU -> conv (plain ReLU, stride 1)."""
    st = net.spec.stages
    if len(st) < 4 or st[1].kind != "relu" or st[1].op is not relu:
        return None
    one, two = _plain_conv(st[0]), _plain_conv(st[2])
    if one is None or two is None:
        return None
    return Geometry(st[0].name, st[2].name, one[0], two[0], one[1], two[1])


def updates(order: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Pixels changed at each grid step: order (N, P) pixel indices by rank, ks (K,) counts
    (step_grid) -> (N, K-1, s) int32, row i = the pixels of ranks ks[i]..ks[i+1]-1, padded with -1
    (no change) to s = the largest step."""
    s = int(np.diff(ks).max()) if len(ks) > 1 else 1
    ranks = ks[:-1, None] + np.arange(s)[None]  # (K-1, s)
    ok = ranks < ks[1:, None]
    picked = np.take(order, np.minimum(ranks, order.shape[1] - 1), axis=1)  # (N, K-1, s)
    return np.where(ok[None], picked, -1).astype(np.int32)


def _bias(params: dict) -> jax.Array | float:
    """A conv's bias shaped to add to an (h, w, K) map (0 without one)."""
    return params["bias"].reshape(1, 1, -1) if "bias" in params else 0.0


def _curve(net: Net, g: Geometry, a, b, upd, target) -> jax.Array:
    """One curve: p(target) of b, then after each row of upd (L, s) sets its pixels to a's
    values. a, b (H, W, C) -> (L + 1,) float32."""
    _, w, c = b.shape
    (k1y, k1x), (k2y, k2x) = g.k1, g.k2
    (l1y, h1y), (l1x, h1x) = g.pads1
    l2y, l2x = g.pads2[0][0], g.pads2[1][0]
    my, mx = k1y + k2y - 2, k1x + k2x - 2  # margins: every window stays inside the arrays
    nhy, nhx = k1y + 2 * k2y - 2, k1x + 2 * k2x - 2  # first-conv outputs one step recomputes
    p1, p2 = net.params[g.first], net.params[g.second]
    img = jnp.pad(b, ((l1y + my, h1y + my), (l1x + mx, h1x + mx), (0, 0)))
    z = net.run(b, stop=g.second)  # the second convolution's output, (H2, W2, K2)
    size1 = net.spec.shapes()[g.first]
    z = jnp.pad(z, ((my, my), (mx, mx), (0, 0)))
    hz, wz = z.shape[0] - 2 * my, z.shape[1] - 2 * mx

    def prob(z: jax.Array) -> jax.Array:
        inner = z[my : my + hz, mx : mx + wz]
        return jax.nn.softmax(net.run(inner, start=g.second))[target]

    def change(state, pixel):
        img, z = state
        y, x = jnp.maximum(pixel, 0) // w, jnp.maximum(pixel, 0) % w
        u, v = y + l1y, x + l1x  # the pixel in first-conv padded coordinates
        old = img[u + my, v + mx]
        img = lax.dynamic_update_slice(img, jnp.where(pixel >= 0, a[y, x], old)[None, None],
                                       (u + my, v + mx, 0))  # fmt: skip
        ty, tx = u - k1y - k2y + 2, v - k1x - k2x + 2  # first recomputed row/col of conv 1
        win = lax.dynamic_slice(img, (ty + my, tx + mx, 0), (nhy + k1y - 1, nhx + k1x - 1, c))
        act = valid_conv(win[None], p1["kernel"])[0] + _bias(p1)
        rows, cols = ty + jnp.arange(nhy), tx + jnp.arange(nhx)
        inside = ((rows >= 0) & (rows < size1[0]))[:, None, None] & (
            (cols >= 0) & (cols < size1[1])
        )[None, :, None]
        act = jnp.where(inside, relu(act), 0.0)  # outside conv 1's map: the second conv's padding
        dims = ("NHWC", "HWIO", "NHWC")
        out = lax.conv_general_dilated(act[None], p2["kernel"], (1, 1), "VALID",
                                       dimension_numbers=dims)[0]  # fmt: skip
        out = out + _bias(p2)
        z = lax.dynamic_update_slice(z, out, (ty + l2y + my, tx + l2x + mx, 0))
        return img, z

    def step(state, pixels):
        for j in range(pixels.shape[0]):  # s <= MAX_STEP: unrolled
            state = change(state, pixels[j])
        return state, prob(state[1])

    _, ps = lax.scan(step, (img, z), upd)
    return jnp.concatenate([prob(z)[None], ps])


@partial(jax.jit, static_argnums=1)
def _batch(net: Net, g: Geometry, a, b, upd, targets) -> jax.Array:
    return jax.vmap(partial(_curve, net, g))(a, b, upd, targets)


def probs(
    net: Net,
    g: Geometry,
    a: np.ndarray,
    b: np.ndarray,
    upd: np.ndarray,
    targets: np.ndarray,
    memory_mb: int,
) -> np.ndarray:
    """(N, L + 1) float32: p(target) of each curve's start image b (N, H, W, C) and after each row
    of upd (N, L, s) (see `updates`) replaces those pixels with a's values; in chunks of curves
    sized from `memory_mb`."""
    per_curve = 8 * sum(int(np.prod(s)) for s in net.spec.shapes().values()) + 4 * upd[0].size
    chunk = devices.round_up(min(CHUNK, chunk_size(per_curve, memory_mb)))
    const = devices.replicate(net)
    return np.asarray(
        map_chunks(lambda *xs: _batch(const, g, *xs), [a, b, upd, targets], chunk), np.float32
    )
