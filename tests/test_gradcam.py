"""Grad-CAM against an independent NumPy implementation on a tiny net; vmap == Python loop."""

import jax
import jax.numpy as jnp
import numpy as np

from cnnatlas.probes import PROBES, batched_grid
from cnnatlas.probes.gradcam import gradcam


def np_conv(x, k, b):
    """VALID cross-correlation, x (H, W, C), k (3, 3, C, K)."""
    h, w = x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1
    out = np.zeros((h, w, k.shape[3]))
    for i in range(h):
        for j in range(w):
            out[i, j] = np.tensordot(x[i : i + k.shape[0], j : j + k.shape[1]], k, axes=3)
    return out + b


def np_bilinear(a, size):
    """Half-pixel-centre bilinear upsampling with edge clamping."""

    def weights(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), lo] += 1 - (src - lo)
        m[np.arange(n_out), hi] += src - lo
        return m

    return weights(a.shape[0], size[0]) @ a @ weights(a.shape[1], size[1]).T


def np_gradcam(params, x, c):
    """Grad-CAM at conv_b of the tiny net, with the backward pass written out by hand."""
    p = jax.tree.map(lambda v: np.asarray(v, np.float64), params)
    a1 = np.maximum(np_conv(x, p["conv_a"]["kernel"], p["conv_a"]["bias"]), 0)
    acts = np_conv(a1, p["conv_b"]["kernel"], p["conv_b"]["bias"])  # (4, 4, 4)
    r = np.maximum(acts, 0)
    # d logit_c / d flatten = W[:, c]; unflatten to the pooled (2, 2, 4) map
    g_pool = p["dense"]["kernel"][:, c].reshape(2, 2, 4)
    g = np.zeros_like(acts)
    for i in range(2):
        for j in range(2):
            for k in range(4):
                win = r[2 * i : 2 * i + 2, 2 * j : 2 * j + 2, k]
                u, v = np.unravel_index(np.argmax(win), (2, 2))
                g[2 * i + u, 2 * j + v, k] = g_pool[i, j, k]
    g = g * (acts > 0)  # ReLU backward
    weights = g.mean(axis=(0, 1))
    cam = np.maximum((acts * weights).sum(-1), 0)
    return np_bilinear(cam, (8, 8))


def test_gradcam_matches_numpy_reference(tiny_net, key):
    x = jax.random.uniform(jax.random.key(7), (8, 8, 1))
    for c in range(5):
        got = gradcam(tiny_net, x, jnp.int32(c), key, layer="conv_b")
        want = np_gradcam(tiny_net.params, np.asarray(x, np.float64), c)
        assert got.shape == (8, 8) and got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_gradcam_is_nonzero_for_some_class(tiny_net, key):
    x = jax.random.uniform(jax.random.key(8), (8, 8, 1))
    maps = [gradcam(tiny_net, x, jnp.int32(c), key, layer="conv_b") for c in range(5)]
    assert max(float(m.max()) for m in maps) > 0
    assert min(float(m.min()) for m in maps) >= 0  # the paper's ReLU


def test_vmapped_grid_equals_python_loop(tiny_net, key):
    xs = jax.random.uniform(jax.random.key(9), (3, 8, 8, 1))
    targets = np.tile(np.arange(5, dtype=np.int32), (3, 1))
    kd = np.asarray(jax.random.key_data(jax.random.split(key, 15))).reshape(3, 5, 2)
    grid = batched_grid(PROBES["gradcam"], layer="conv_a")(tiny_net, xs, targets, kd)
    assert grid.shape == (3, 5, 8, 8)
    for i in range(3):
        for c in range(5):
            one = gradcam(tiny_net, xs[i], jnp.int32(c), key, layer="conv_a")
            np.testing.assert_allclose(grid[i, c], one, rtol=1e-5, atol=1e-6)
