"""Deletion and insertion probabilities by windowed recomputation (issue 10: the trust stage at
1-pixel steps was the largest part of a cold build, and over 2 h at 10,000 samples).

Between two steps of a curve only `step` pixels change. In a network that begins
conv -> ReLU -> conv (TinyVGG and its variants), a pixel changes the first convolution's output
in a k1×k1 window and the second's in a (k1+k2-1)² window, so one `lax.scan` over the steps
carries the current image and the second convolution's output, recomputes only those windows
(for TinyVGG: 9×9 input pixels -> 7×7×10 -> 5×5×10, ~25 k multiply-adds instead of the ~0.5 M
of its second convolution over 24×24) and runs the rest of the network in full. When the second
convolution is followed by ReLU -> 2×2 max-pool -> conv (TinyVGG's second block), a third level
carries that convolution's output too and recomputes its window (5×5 of 10×10 from 7×7 pooled
values) at 1-pixel steps. The values equal the full forward pass up to float summation order
(tested against `deletion`'s batched path, two- and three-level, valid and same padding).

Measured on the 2-core CPU (100 samples, both curves; the full path run in the same process):
1-pixel steps 4.8-5.1 s -> 1.5 s per map set (3.3×; 2.2-2.9 s with two levels). Since the full
path runs `models.blockconv`'s faster convolutions (2.9-3.3 s at 1-pixel steps), the windows win
by 1.7-2.1× at 1-pixel steps (bench_trust.py), 1.2× at 2, 1.1× at 3 and not at 4 (0.91 vs
0.92 s) or 8 (0.76 vs 0.54 s). Each step recomputes `step` windows one after another, so
`deletion.curves` uses this for step <= MAX_STEP, on CPU (the accelerators' full batched forward
passes are not sequential and were not measured against it), and for networks `geometry`
accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import devices
from ..batching import map_chunks
from ..models import Net
from ..models.base import max_pool_2x2, relu
from ..models.blockconv import plain_conv

MAX_STEP = 3  # pixels per step up to which windows beat full forward passes (docstring)


@dataclass(frozen=True)
class Geometry:
    """The first two convolutions: stage names, kernel sizes (kh, kw) and their (lo, hi) pads."""

    first: str
    second: str
    k1: tuple[int, int]
    k2: tuple[int, int]
    pads1: tuple[tuple[int, int], tuple[int, int]]
    pads2: tuple[tuple[int, int], tuple[int, int]]
    # a third level when conv 2 is followed by ReLU -> 2×2 max-pool -> conv (TinyVGG): its name,
    # kernel size and pads, else None
    third: str | None = None
    k3: tuple[int, int] = (1, 1)
    pads3: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))


def geometry(net: Net) -> Geometry | None:
    """The windows' geometry when `net` begins conv -> ReLU -> conv (plain ReLU, stride 1)."""
    st = net.spec.stages
    if len(st) < 4 or st[1].kind != "relu" or st[1].op is not relu:
        return None
    one, two = plain_conv(st[0]), plain_conv(st[2])
    if one is None or two is None:
        return None
    g = Geometry(st[0].name, st[2].name, one[0], two[0], one[1], two[1])
    three = plain_conv(st[5]) if len(st) > 6 else None
    if three and st[3].kind == "relu" and st[3].op is relu and st[4].op is max_pool_2x2:
        g = replace(g, third=st[5].name, k3=three[0], pads3=three[1])
    return g


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


def _conv(x: jax.Array, params: dict) -> jax.Array:
    """Valid stride-1 convolution of one (h, w, C) window, plus the stage's bias."""
    dims = ("NHWC", "HWIO", "NHWC")
    out = lax.conv_general_dilated(
        x[None], params["kernel"], (1, 1), "VALID", dimension_numbers=dims
    )
    return out[0] + _bias(params)


def _inside(start, size, limit) -> jax.Array:
    """(size_y, size_x, 1) bool: which rows and columns of a window at `start` lie in the map of
    size `limit` (outside it the next convolution sees its zero padding)."""
    ry, rx = start[0] + jnp.arange(size[0]), start[1] + jnp.arange(size[1])
    rows = (ry >= 0) & (ry < limit[0])
    cols = (rx >= 0) & (rx < limit[1])
    return rows[:, None, None] & cols[None, :, None]


def _put(x: jax.Array, window: jax.Array, start, margin) -> jax.Array:
    return lax.dynamic_update_slice(x, window, (start[0] + margin[0], start[1] + margin[1], 0))


def _take(x: jax.Array, start, size, margin) -> jax.Array:
    at = (start[0] + margin[0], start[1] + margin[1], 0)
    return lax.dynamic_slice(x, at, (size[0], size[1], x.shape[2]))


def _curve(net: Net, g: Geometry, a, b, upd, target) -> jax.Array:
    """One curve: p(target) of b, then after each row of upd (L, s) sets its pixels to a's
    values. a, b (H, W, C) -> (L + 1,) float32.

    Coordinates are per axis (row, column). The carried maps (the image with conv 1's padding,
    conv 2's output and, with a third level, conv 3's output) have one margin `m` on every side,
    wide enough that every window read or written lies inside them; what lands in a margin is
    never read as part of a map (windows are masked with `_inside` where padding counts).
    """
    w = b.shape[1]
    k1, k2, k3 = g.k1, g.k2, g.k3
    lo1 = (g.pads1[0][0], g.pads1[1][0])
    lo2, lo3 = (g.pads2[0][0], g.pads2[1][0]), (g.pads3[0][0], g.pads3[1][0])
    m = tuple(k1[i] + k2[i] + 2 * k3[i] + 2 for i in (0, 1))
    n2 = tuple(k1[i] + k2[i] - 1 for i in (0, 1))  # conv 2 rows one pixel changes
    nh = tuple(k1[i] + 2 * k2[i] - 2 for i in (0, 1))  # conv 1 rows they read
    npool = tuple(n2[i] // 2 + 2 * k3[i] - 1 for i in (0, 1))  # pooled rows conv 3 reads
    p1, p2 = net.params[g.first], net.params[g.second]
    size1 = net.spec.shapes()[g.first][:2]
    size2 = net.spec.shapes()[g.second][:2]
    pooled = (size2[0] // 2, size2[1] // 2)  # max_pool_2x2 drops an odd last row/column

    def margin(x, pads=((0, 0), (0, 0))):
        widths = ((pads[0][0] + m[0], pads[0][1] + m[0]), (pads[1][0] + m[1], pads[1][1] + m[1]))
        return jnp.pad(x, (*widths, (0, 0)))

    last = g.third or g.second
    top_size = net.spec.shapes()[last][:2]
    z = net.run(b, stop=g.second)
    state = [margin(b, g.pads1), margin(z)]
    if g.third:
        state.append(margin(net.run(z, start=g.second, stop=g.third)))

    def prob(top: jax.Array) -> jax.Array:
        inner = top[m[0] : m[0] + top_size[0], m[1] : m[1] + top_size[1]]
        return jax.nn.softmax(net.run(inner, start=last))[target]

    def change(state, pixel):
        img, z, *z3 = state
        y, x = jnp.maximum(pixel, 0) // w, jnp.maximum(pixel, 0) % w
        u = (y + lo1[0], x + lo1[1])  # the pixel in conv 1's padded coordinates
        img = _put(img, jnp.where(pixel >= 0, a[y, x], img[u[0] + m[0], u[1] + m[1]])[None, None],
                   u, m)  # fmt: skip
        t = tuple(u[i] - k1[i] - k2[i] + 2 for i in (0, 1))  # first conv 1 row recomputed
        win = _take(img, t, (nh[0] + k1[0] - 1, nh[1] + k1[1] - 1), m)
        act = _conv(win, p1)
        act = jnp.where(_inside(t, nh, size1), relu(act), 0.0)
        zs = (t[0] + lo2[0], t[1] + lo2[1])  # first conv 2 row recomputed (n2 of them)
        z = _put(z, _conv(act, p2), zs, m)
        if not g.third:
            return img, z
        q0 = tuple(zs[i] // 2 - k3[i] + 1 for i in (0, 1))  # first pooled row conv 3 reads
        win = _take(z, (2 * q0[0], 2 * q0[1]), (2 * npool[0], 2 * npool[1]), m)
        pool = jnp.where(_inside(q0, npool, pooled), max_pool_2x2(relu(win)), 0.0)
        out = _conv(pool, net.params[g.third])  # conv 3 rows q0 + lo3 .. (all it changes)
        return img, z, _put(z3[0], out, (q0[0] + lo3[0], q0[1] + lo3[1]), m)

    def step(state, pixels):
        for j in range(pixels.shape[0]):  # s <= MAX_STEP: unrolled
            state = change(state, pixels[j])
        return state, prob(state[-1])

    _, ps = lax.scan(step, tuple(state), upd)
    return jnp.concatenate([prob(state[-1])[None], ps])


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
    chunk: int,
) -> np.ndarray:
    """(N, L + 1) float32: p(target) of each curve's start image b (N, H, W, C) and after each row
    of upd (N, L, s) (see `updates`) replaces those pixels with a's values; `chunk` curves (a
    multiple of the device count) per scan, padded: a curve does not depend on the others."""
    if upd.shape[2] > 1:  # a third level per changed pixel costs more than conv 3 once a step
        g = replace(g, third=None)  # (measured: 0.7× at 4-pixel steps, 1.5× at 1-pixel steps)
    const = devices.replicate(net)
    return np.asarray(
        map_chunks(lambda *xs: _batch(const, g, *xs), [a, b, upd, targets], chunk, shrink=False),
        np.float32,
    )
