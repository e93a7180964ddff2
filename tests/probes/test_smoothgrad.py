"""SmoothGrad: σ = 0 gives back the base method; the noise is exactly n Gaussian copies drawn from
the key; smoothing keeps the probe signature and wraps any method."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_nets import key_data, linear_net

from cnnatlas.compute import example_keys
from cnnatlas.probes import PROBES, batched_grid
from cnnatlas.probes.gradcam import gradcam
from cnnatlas.probes.smoothgrad import BASES, smooth, smoothgrad


@pytest.mark.parametrize("base", sorted(BASES))
def test_sigma_zero_equals_the_base_method(base, tiny_net, key):
    x = jax.random.uniform(jax.random.key(41), (8, 8, 1))
    smoothed = jax.jit(functools.partial(smoothgrad, base=base, n=5, sigma=0.0))
    for c in (0, 3):
        got = smoothed(tiny_net, x, jnp.int32(c), key)
        want = BASES[base](tiny_net, x, jnp.int32(c), key)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_noise_is_n_gaussian_copies_from_the_key(key):
    """With the identity as the 'method', the smoothed output is the mean noisy input."""

    def identity(net, x, target, key):
        del net, target, key
        return x

    x = jnp.linspace(0, 2, 12, dtype=jnp.float32).reshape(3, 4, 1)  # value range 2
    got = smooth(identity, 7, 0.25)(None, x, jnp.int32(0), key)
    noise_key = jax.random.split(key, 8)[0]
    noise = np.asarray(jax.random.normal(noise_key, (7, 3, 4, 1)))
    np.testing.assert_allclose(got, np.asarray(x) + 0.25 * 2 * noise.mean(0), rtol=1e-5, atol=1e-6)


def test_different_keys_differ_same_key_repeats(tiny_net, key):
    x = jax.random.uniform(jax.random.key(42), (8, 8, 1))
    smoothed = jax.jit(functools.partial(smoothgrad, base="saliency", n=4, sigma=0.2))
    a = smoothed(tiny_net, x, jnp.int32(1), key)
    assert not np.allclose(a, smoothed(tiny_net, x, jnp.int32(1), jax.random.key(99)))
    np.testing.assert_array_equal(a, smoothed(tiny_net, x, jnp.int32(1), key))


def test_smoothed_linear_saliency_is_still_the_weights(rng, key):
    kernel = rng.normal(size=(16, 2))
    net = linear_net(kernel, np.zeros(2))
    x = jnp.asarray(rng.random((4, 4, 1)), jnp.float32)
    got = smoothgrad(net, x, jnp.int32(1), key, base="saliency", n=6, sigma=0.5)
    np.testing.assert_allclose(got, kernel[:, 1].reshape(4, 4), rtol=1e-5)


def test_wraps_a_method_with_hyperparameters(tiny_net, key):
    x = jax.random.uniform(jax.random.key(43), (8, 8, 1))
    smoothed = smooth(gradcam, 3, 0.0)
    np.testing.assert_allclose(
        smoothed(tiny_net, x, jnp.int32(2), key, layer="conv_b"),
        gradcam(tiny_net, x, jnp.int32(2), key, layer="conv_b"),
        rtol=1e-6,
    )


def test_grid_draws_one_noise_per_sample_for_all_classes(tiny_net, key):
    """key_per_sample (issue 4): every class of an image is averaged over the same noisy copies,
    from the image's first key; the other keys are ignored, a repeated class gives equal maps,
    and the first key does not depend on how many classes are asked for ("pred_true" or "all")."""
    spec = PROBES["smoothgrad"]
    hp = {"base": "saliency", "n": 4, "sigma": 0.3}
    xs = np.asarray(jax.random.uniform(jax.random.key(44), (2, 8, 8, 1)))
    targets = np.array([[1, 3, 1], [0, 0, 2]], np.int32)
    kd = key_data(key, 2, 3)
    grid = np.asarray(batched_grid(spec, **hp)(tiny_net, xs, targets, kd))
    np.testing.assert_array_equal(grid[0, 0], grid[0, 2])
    np.testing.assert_array_equal(grid[1, 0], grid[1, 1])
    assert not np.allclose(grid[0, 0], grid[0, 1])
    keys = jax.random.wrap_key_data(kd)
    for i, t in [(0, 1), (1, 2)]:
        want = smoothgrad(tiny_net, jnp.asarray(xs[i]), jnp.int32(targets[i, t]), keys[i, 0], **hp)
        np.testing.assert_allclose(grid[i, t], want, rtol=2e-5, atol=2e-6)
    other = kd.copy()
    other[:, 1:] = key_data(jax.random.key(7), 2, 2)
    np.testing.assert_array_equal(grid, batched_grid(spec, **hp)(tiny_net, xs, targets, other))
    samples = [SimpleNamespace(sha256="a" * 64), SimpleNamespace(sha256="b" * 64)]
    two, ten = (example_keys(0, "smoothgrad", samples, t) for t in (2, 10))
    np.testing.assert_array_equal(two[:, 0], ten[:, 0])


@pytest.mark.parametrize("base", sorted(BASES))
def test_grid_equals_the_per_class_definition_for_every_base(base, tiny_net, key):
    """`smoothgrad_grid` (the registry's grid_fn: the gradient bases' backward passes over 2×2
    blocks, probes/blockgrad.py; gradient × input vmapped over classes) is `smoothgrad` class by
    class."""
    hp = {"base": base, "n": 3, "sigma": 0.2}
    xs = np.asarray(jax.random.uniform(jax.random.key(45), (2, 8, 8, 1)))
    targets = np.array([[4, 0], [2, 3]], np.int32)
    kd = key_data(key, 2, 2)
    grid = np.asarray(batched_grid(PROBES["smoothgrad"], **hp)(tiny_net, xs, targets, kd))
    keys = jax.random.wrap_key_data(kd)
    one = jax.jit(functools.partial(smoothgrad, **hp))
    for i in range(2):
        for t in range(2):
            want = one(tiny_net, jnp.asarray(xs[i]), jnp.int32(targets[i, t]), keys[i, 0])
            np.testing.assert_allclose(grid[i, t], want, rtol=2e-5, atol=2e-6)
