"""Deletion and insertion curves (Petsiuk, Das & Saenko, "RISE", BMVC 2018, arXiv 1806.07421).

The maths of the faithfulness check: pixel ranks, the random and centre baseline maps, the
insertion substrate, the batched curves and their areas. No files, cache or timing here: the
pipeline's glue (which maps are evaluated, caching) is `faithfulness`; a change to the maths here
needs a bump of `faithfulness.VERSION` (the cache key).

Pixels are ordered by the map, most important first, and

- deletion: removed `step` at a time towards a zero substrate (x -> 0);
- insertion: added `step` at a time to a blurred copy of the input (blur -> x);

after every step the model's softmax probability of the class it predicted on the original input
is recorded. The curve's normalized area (trapezoid rule, x axis = fraction of pixels 0..1) is the
score: a faithful map has a low deletion AUC and a high insertion AUC.

Ordering. Maps are ranked by their signed value, positive evidence first (as in the RISE paper and
Captum/Quantus-style evaluations): for signed maps, pixels that lower the class score come last.
Ties (e.g. the zero regions of Grad-CAM) are broken by the sample's random baseline map, so tied
pixels are removed in the random baseline's order rather than top-left first. A "pixel" is a
spatial position: all its channels are removed or added together.

Batching. The images of every step are never materialized outside the jitted function: it gets
the inputs, substrates and pixel ranks of all curves once, and a flat list of (curve, k) pairs;
each pair's image is `where(rank < k, a, b)` built inside `jit(vmap(...))`, in fixed-size chunks
through `batching.map_chunks` (one compile per shape). Steps that change no pixel are computed
once: a pixel whose value equals the substrate (black background under deletion towards zero) is a
no-op, so the image after k steps equals the one after the last step that changed something. This
is exact and roughly halves deletion on Fashion-MNIST, whose backgrounds are zero.

On CPU, for steps of at most `incremental.MAX_STEP` pixels and networks that begin
conv -> ReLU -> conv, the curves are computed instead by one scan per curve that recomputes only
the windows a changed pixel reaches (`incremental`, 1.7-2× faster at 1-pixel steps); both paths
give the same probabilities up to float summation order (tested).
"""

from __future__ import annotations

import zlib
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import devices
from ..batching import chunk_size, map_chunks
from ..models import Net
from ..models.blockconv import blockconv_net
from ..probes.integrated_gradients import baseline_for
from . import incremental

CHUNK = 256  # images (or windowed curves) per call: 64..512 within 10 % for TinyVGG on 2 cores
# Windowed curves per scan: always this many (padded; batching.SAMPLE_CHUNK says why), so 64,
# the low end of that range, keeps a small sample set's padding cheap.
CURVES_CHUNK = 64


def step_grid(n_pixels: int, step: int) -> np.ndarray:
    """Pixel counts k = 0, step, 2 step, ..., n_pixels (the last one always included), int32."""
    return np.unique(np.r_[np.arange(0, n_pixels, max(1, step)), n_pixels]).astype(np.int32)


def pixel_ranks(maps: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Rank of every pixel in descending map order (0 = removed / added first).

    Args:
      maps: (N, H, W) float, signed values ranked as they are (positive evidence first).
      tiebreak: (N, H, W) float; among equal map values the larger tiebreak comes first.
    Returns:
      (N, H, W) int32, each row a permutation of 0..H*W-1.
    """
    n = maps.shape[0]
    flat = np.nan_to_num(np.asarray(maps, np.float64).reshape(n, -1), nan=-np.inf)
    order = np.lexsort((-np.asarray(tiebreak, np.float64).reshape(n, -1), -flat), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(flat.shape[1]), order.shape), -1)
    return ranks.reshape(maps.shape).astype(np.int32)


def random_maps(seed: int, sample_shas: list[str], shape: tuple[int, int]) -> np.ndarray:
    """(N, H, W) float32 uniform noise, one map per sample from (seed, sample content): the random
    baseline, and the tie-break of every other map of that sample."""
    return np.stack(
        [
            np.random.default_rng([seed, zlib.crc32(sha.encode())]).random(shape, np.float32)
            for sha in sample_shas
        ]
    ) if sample_shas else np.zeros((0, *shape), np.float32)  # fmt: skip


def centre_map(shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 Gaussian centred in the image, sigma = min(H, W) / 4: the centre baseline
    (objects in centred datasets sit in the middle; a map that only says "the middle" scores
    this well without looking at the input)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    s = min(h, w) / 4
    d2 = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2
    return np.exp(-d2 / (2 * s * s)).astype(np.float32)


def blurred(xs: np.ndarray, sigma: float) -> np.ndarray:
    """(N, H, W, C) inputs under a Gaussian blur of `sigma` pixels: the insertion substrate (the
    same blur as integrated gradients' "blurred" baseline)."""
    return np.asarray(_blur(float(sigma))(jnp.asarray(xs, jnp.float32))) if len(xs) else xs


@cache
def _blur(sigma: float):
    return jax.jit(jax.vmap(partial(baseline_for, baseline="blurred", blur_sigma=sigma)))


@jax.jit
def _probs(
    net: Net, a: jax.Array, b: jax.Array, ranks: jax.Array, targets: jax.Array, curve, k
) -> jax.Array:
    """p(target | where(rank < k, a, b)) for each (curve, k) pair.

    a, b: (C, H, W, Ch) what replaces / what is replaced; ranks (C, H, W) int32; targets (C,)
    int32; curve, k: (B,) int32 -> (B,) float32.
    """

    net = blockconv_net(net)  # same function, faster (models/blockconv.py)

    def one(c: jax.Array, k: jax.Array) -> jax.Array:
        img = jnp.where((ranks[c] < k)[..., None], a[c], b[c])
        return jax.nn.softmax(net.run(img))[targets[c]]

    return jax.vmap(one)(curve, k)


def _bytes_per_image(net: Net) -> int:
    return 8 * sum(int(np.prod(s)) for s in net.spec.shapes().values())  # forward only, float32


def curves(
    net: Net,
    xs: np.ndarray,
    targets: np.ndarray,
    maps: np.ndarray,
    tiebreak: np.ndarray,
    *,
    step: int,
    blur_sigma: float,
    memory_mb: int = 512,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deletion and insertion curves of one map per input.

    Args:
      xs: (N, H, W, C) float32 inputs. targets: (N,) int32, the class whose probability is
        followed (the class predicted on xs). maps: (N, H, W) the maps to evaluate.
      tiebreak: (N, H, W) order among equal map values (see `random_maps`).
      step: pixels per step (1 = every pixel). blur_sigma: the insertion substrate's blur.
      memory_mb: budget of one batched call.
    Returns:
      (deletion (N, K), insertion (N, K), fractions (K,)): float32 probabilities after removing /
      adding the first k pixels, k = step_grid(H*W, step), and fractions = k / (H*W).
    """
    xs = np.asarray(xs, np.float32)
    n, h, w, _ = xs.shape
    ks = step_grid(h * w, step)
    ranks = pixel_ranks(maps, tiebreak)
    # curve c < n: deletion, where(rank < k, 0, x); curve n + c: insertion, where(rank < k, x, blur)
    a = np.concatenate([np.zeros_like(xs), xs])
    b = np.concatenate([xs, blurred(xs, blur_sigma)])
    ranks2, targets2 = np.concatenate([ranks, ranks]), np.concatenate([targets, targets])
    # images (or curves) per batched call, for either path
    chunk = devices.round_up(min(CHUNK, chunk_size(_bytes_per_image(net), memory_mb)))
    g = incremental.geometry(net)
    if g is not None and step <= incremental.MAX_STEP and jax.default_backend() == "cpu":
        order = np.argsort(ranks2.reshape(2 * n, -1), axis=1)
        upd = incremental.updates(order, ks)
        out = incremental.probs(net, g, a, b, upd, targets2, min(chunk, CURVES_CHUNK))
    else:
        out = _distinct_probs(net, a, b, ranks2, targets2, ks, chunk)
    return out[:n], out[n:], (ks / (h * w)).astype(np.float32)


def _distinct_probs(net: Net, a, b, ranks2, targets2, ks, chunk: int) -> np.ndarray:
    """(2N, K) curves as independent forward passes, one per distinct image (see Batching)."""
    m, (h, w) = len(a), a.shape[1:3]
    # changed pixels so far, after each grid step; a step that changes nothing repeats a value
    changed = np.any(a != b, axis=-1).reshape(m, h * w)
    by_rank = np.take_along_axis(changed, np.argsort(ranks2.reshape(m, -1), axis=1), axis=1)
    done = np.concatenate([np.zeros((m, 1), np.int64), np.cumsum(by_rank, axis=1)], 1)[:, ks]
    new = np.ones_like(done, bool)
    new[:, 1:] = done[:, 1:] != done[:, :-1]
    curve, grid = np.nonzero(new)  # the distinct images, row-major
    where = (np.cumsum(new.ravel()) - 1).reshape(new.shape)  # grid step -> its distinct image
    pad = -len(curve) % chunk  # whole chunks only: one compile whatever the pair count
    pairs = [np.pad(curve, (0, pad)).astype(np.int32), np.pad(ks[grid], (0, pad)).astype(np.int32)]
    const = devices.replicate(tuple(jnp.asarray(v) for v in (a, b, ranks2, targets2)))
    probs = map_chunks(lambda c, k: _probs(net, *const, c, k), pairs, chunk)
    return np.asarray(probs, np.float32)[where]


def auc(fractions: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Normalized trapezoid area under curves: sum_k (f_k+1 - f_k) (p_k + p_k+1) / 2.

    fractions (K,) from 0 to 1; probs (..., K) -> (...,) float64 (in [0, 1] for probabilities).
    """
    f = np.asarray(fractions, np.float64)
    p = np.asarray(probs, np.float64)
    return (np.diff(f) * (p[..., 1:] + p[..., :-1]) / 2).sum(axis=-1)
