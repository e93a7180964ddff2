"""Grad-CAM++ (and Grad-CAM) on a hand-computed 4×4 case, as Captum tests Grad-CAM, and against a
NumPy implementation of the paper's weights on the tiny net."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnatlas.models.base import ModelSpec, Net, Stage, flatten
from cnnatlas.probes.gradcam import gradcam
from cnnatlas.probes.gradcampp import gradcampp


def _identity_conv_net(w: np.ndarray) -> Net:
    """4×4×1 input -> 1×1 conv (weight 1, bias 0: acts = x) -> flatten -> dense (16, 2) = w."""
    spec = ModelSpec(
        name="hand",
        input_shape=(4, 4, 1),
        n_classes=2,
        stages=(
            Stage("conv", "conv", nn.Conv(1, (1, 1))),
            Stage("flatten", "flatten", op=flatten),
            Stage("dense", "dense", nn.Dense(2)),
        ),
    )
    params = {
        "conv": {"kernel": jnp.ones((1, 1, 1, 1)), "bias": jnp.zeros(1)},
        "dense": {"kernel": jnp.asarray(w, jnp.float32), "bias": jnp.zeros(2)},
    }
    return Net(params, spec)


def test_hand_computed_4x4(key):
    x = (np.arange(16, dtype=np.float32) / 16).reshape(4, 4, 1)
    w = np.stack([np.ones(16), np.r_[np.ones(8), -np.ones(8)]], 1)
    net = _identity_conv_net(w)
    # class 0: every gradient is 1. Grad-CAM: alpha = 1, cam = relu(x) = x.
    np.testing.assert_allclose(
        gradcam(net, jnp.asarray(x), jnp.int32(0), key, layer="conv"), x[..., 0], rtol=1e-6
    )
    # Grad-CAM++: a = 1 / (2 + sum x), w = 16 a, cam = w x.
    want = 16 / (2 + x.sum()) * x[..., 0]
    np.testing.assert_allclose(
        gradcampp(net, jnp.asarray(x), jnp.int32(0), key, layer="conv"), want, rtol=1e-6
    )
    # class 1: g = +1 on the top half, -1 on the bottom; Grad-CAM's mean is 0 -> an empty map,
    # Grad-CAM++ keeps the positive gradients only: a = 1 / (2 + sum x g) where g > 0 ...
    np.testing.assert_allclose(
        gradcam(net, jnp.asarray(x), jnp.int32(1), key, layer="conv"), 0, atol=1e-7
    )
    g = w[:, 1].reshape(4, 4)
    a = g**2 / (2 * g**2 + x[..., 0].sum() * g**3)
    want = max(float((a * np.maximum(g, 0)).sum()), 0) * x[..., 0]
    np.testing.assert_allclose(
        gradcampp(net, jnp.asarray(x), jnp.int32(1), key, layer="conv"), want, rtol=1e-6
    )


def test_matches_numpy_weights_on_the_tiny_net(tiny_net, key):
    x = jax.random.uniform(jax.random.key(21), (8, 8, 1))
    for c in range(5):
        acts = np.asarray(tiny_net.run(x, stop="relu_b"), np.float64)
        g = np.asarray(
            jax.grad(lambda a, c=c: tiny_net.run(a, start="relu_b")[c])(
                jnp.asarray(acts, jnp.float32)
            ),
            np.float64,
        )
        denom = 2 * g**2 + acts.sum(axis=(0, 1)) * g**3
        alpha = np.divide(g**2, denom, out=np.zeros_like(g), where=denom != 0)
        weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
        cam = np.maximum((acts * weights).sum(-1), 0)
        want = jax.image.resize(jnp.asarray(cam, jnp.float32), (8, 8), method="linear")
        got = gradcampp(tiny_net, x, jnp.int32(c), key, layer="relu_b")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
