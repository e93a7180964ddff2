"""Occlusion: on a linear model, exactly the weight × patch contribution; on the tiny net, equal
to a plain loop over windows; the windows are the ones asked for."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_nets import linear_net

from cnnatlas.probes.occlusion import occlusion, window_masks


def test_one_pixel_windows_of_a_linear_model_give_weight_times_input(rng, key):
    kernel, bias = rng.normal(size=(16, 3)), rng.normal(size=3)
    net = linear_net(kernel, bias)
    x = rng.random((4, 4, 1)).astype(np.float32)
    for c in range(3):
        got = occlusion(net, jnp.asarray(x), jnp.int32(c), key, size=1, stride=1, fill=0.0)
        np.testing.assert_allclose(
            got, x[..., 0] * kernel[:, c].reshape(4, 4), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(("size", "stride", "fill"), [(2, 2, 0.0), (2, 1, 0.0), (3, 1, 0.5)])
def test_linear_model_patches_by_hand(rng, key, size, stride, fill):
    kernel = rng.normal(size=(16, 2))
    net = linear_net(kernel, np.zeros(2))
    x = rng.random((4, 4)).astype(np.float32)
    w = kernel[:, 1].reshape(4, 4)
    total, count = np.zeros((4, 4)), np.zeros((4, 4))
    for top in range(0, 4 - size + 1, stride):
        for left in range(0, 4 - size + 1, stride):
            win = (slice(top, top + size), slice(left, left + size))
            total[win] += (w[win] * (x[win] - fill)).sum()  # the patch's contribution to the score
            count[win] += 1
    want = total / np.maximum(count, 1)
    got = occlusion(
        net, jnp.asarray(x[..., None]), jnp.int32(1), key, size=size, stride=stride, fill=fill
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_tiny_net_equals_a_plain_loop(tiny_net, key):
    x = np.asarray(jax.random.uniform(jax.random.key(51), (8, 8, 1)))
    f = jax.jit(lambda v: tiny_net.run(v))
    base = np.asarray(f(x))
    total, count = np.zeros((5, 8, 8)), np.zeros((8, 8))
    for top in range(0, 8 - 3 + 1, 2):
        for left in range(0, 8 - 3 + 1, 2):
            occluded = x.copy()
            occluded[top : top + 3, left : left + 3] = 0.25
            drop = base - np.asarray(f(occluded))
            total[:, top : top + 3, left : left + 3] += drop[:, None, None]
            count[top : top + 3, left : left + 3] += 1
    for c in range(5):
        got = occlusion(tiny_net, jnp.asarray(x), jnp.int32(c), key, size=3, stride=2, fill=0.25)
        np.testing.assert_allclose(got, total[c] / np.maximum(count, 1), rtol=1e-4, atol=1e-6)


def test_window_masks():
    masks = window_masks(28, 28, 6, 2)
    assert masks.shape == (12 * 12, 28, 28) and (masks.sum(axis=(1, 2)) == 36).all()
    assert masks[0, :6, :6].all() and masks[1, :6, 2:8].all() and masks[12, 2:8, :6].all()
    uncovered = window_masks(5, 5, 2, 2).sum(0)
    assert uncovered[4].sum() == 0 and uncovered[:4, :4].min() == 1
