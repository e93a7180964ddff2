"""Weighted sums of input gradients (probes/gradients.py): doing the first affine stage's
backward once on the weighted sum equals the weighted sum of full input gradients, under every
ReLU rule; SmoothGrad's gradient bases through it equal the generic `smooth` wrapper."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_nets import linear_net

from cnnatlas.probes.gradients import affine_first_stage, weighted_input_grad
from cnnatlas.probes.relu_rules import with_rule
from cnnatlas.probes.smoothgrad import BASES, GRADIENT_BASES, smooth, smoothgrad


def _reference(net, xs, weights, target):
    """The plain definition: one full input gradient per point, then the weighted sum (NumPy)."""
    grads = [np.asarray(jax.grad(lambda v: net.run(v)[target])(x)) for x in xs]
    return np.tensordot(np.asarray(weights, np.float64), np.asarray(grads, np.float64), axes=1)


@pytest.mark.parametrize("rule", [None, "guided", "deconvnet"])
def test_first_stage_backward_once_equals_sum_of_full_gradients(tiny_net, rule):
    net = tiny_net if rule is None else with_rule(tiny_net, rule)
    assert affine_first_stage(net) == "conv_a"
    xs = jax.random.normal(jax.random.key(7), (6, 8, 8, 1))
    weights = jnp.asarray([0.5, -1.0, 2.0, 0.25, 1.5, 0.1], jnp.float32)
    for c in (0, 4):
        got = jax.jit(weighted_input_grad)(net, xs, weights, jnp.int32(c))
        np.testing.assert_allclose(got, _reference(net, xs, weights, c), rtol=1e-5, atol=1e-6)


def test_other_first_stage_falls_back_to_full_gradients(rng):
    kernel = rng.normal(size=(16, 3))
    net = linear_net(kernel, rng.normal(size=3))  # flatten first: not affine-first
    assert affine_first_stage(net) is None
    xs = jnp.asarray(rng.random((3, 4, 4, 1)), jnp.float32)
    got = weighted_input_grad(net, xs, jnp.asarray([1.0, 2.0, 3.0]), jnp.int32(2))
    np.testing.assert_allclose(got[..., 0], 6 * kernel[:, 2].reshape(4, 4), rtol=1e-5)


@pytest.mark.parametrize("base", sorted(GRADIENT_BASES))
def test_smoothgrad_gradient_bases_equal_the_generic_wrapper(base, tiny_net, key):
    assert base in BASES
    x = jax.random.uniform(jax.random.key(44), (8, 8, 1))
    fast = jax.jit(functools.partial(smoothgrad, base=base, n=7, sigma=0.3))
    generic = jax.jit(smooth(BASES[base], 7, 0.3))
    for c in (1, 3):
        np.testing.assert_allclose(
            fast(tiny_net, x, jnp.int32(c), key),
            generic(tiny_net, x, jnp.int32(c), key),
            rtol=1e-5,
            atol=1e-6,
        )
