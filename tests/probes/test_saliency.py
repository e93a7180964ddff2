"""Saliency and gradient × input: hand-computed linear cases and central finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from probe_nets import linear_net

from cnnatlas.probes.gradient_x_input import gradient_x_input
from cnnatlas.probes.saliency import saliency


def test_saliency_of_a_linear_model_is_its_weights(rng, key):
    kernel, bias = rng.normal(size=(16, 3)), rng.normal(size=3)
    net = linear_net(kernel, bias)
    x = jnp.asarray(rng.random((4, 4, 1)), jnp.float32)
    for c in range(3):
        got = saliency(net, x, jnp.int32(c), key)
        np.testing.assert_allclose(got, kernel[:, c].reshape(4, 4), rtol=1e-6)


def test_gradient_x_input_of_a_linear_model_is_each_pixels_contribution(rng, key):
    kernel, bias = rng.normal(size=(16, 3)), rng.normal(size=3)
    net = linear_net(kernel, bias)
    x = rng.random((4, 4, 1)).astype(np.float32)
    for c in range(3):
        got = gradient_x_input(net, jnp.asarray(x), jnp.int32(c), key)
        want = x[..., 0] * kernel[:, c].reshape(4, 4)  # w_i x_i
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        # completeness: the sum is the logit less the bias, to float32 rounding of its terms
        # (relative to their magnitudes: the terms can cancel to a sum near 0)
        scale = np.abs(x.reshape(-1)) @ np.abs(kernel[:, c])
        np.testing.assert_allclose(
            float(got.sum()), x.reshape(-1) @ kernel[:, c], rtol=0, atol=1e-6 * scale
        )


def test_saliency_matches_central_finite_differences(tiny_net, key):
    x = np.asarray(jax.random.uniform(jax.random.key(11), (8, 8, 1)), np.float64)
    f = jax.jit(lambda v, c: tiny_net.run(v)[c])
    eps = 1e-3
    for c in (0, 3):
        got = np.asarray(saliency(tiny_net, jnp.asarray(x, jnp.float32), jnp.int32(c), key))
        fd = np.zeros((8, 8))
        for i in range(8):
            for j in range(8):
                up, down = x.copy(), x.copy()
                up[i, j, 0] += eps
                down[i, j, 0] -= eps
                fd[i, j] = (
                    f(jnp.asarray(up, jnp.float32), c) - f(jnp.asarray(down, jnp.float32), c)
                ) / (2 * eps)
        np.testing.assert_allclose(got, fd, atol=3e-3 * max(1.0, np.abs(got).max()))
        assert np.abs(got).max() > 1e-3


def test_gradient_x_input_is_input_times_saliency(tiny_net, key):
    x = jax.random.uniform(jax.random.key(12), (8, 8, 1))
    for c in range(5):
        gxi = gradient_x_input(tiny_net, x, jnp.int32(c), key)
        np.testing.assert_allclose(
            gxi, x[..., 0] * saliency(tiny_net, x, jnp.int32(c), key), rtol=1e-5, atol=1e-7
        )
