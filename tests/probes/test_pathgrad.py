"""Weighted path gradients with the first ReLU's switch points (probes/pathgrad.py): equal to the
plain weighted sum of full input gradients (the definition) on small and trained networks, for
every quadrature rule, baseline and padding; other networks fall back."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from probe_nets import mlp_net

from cnnatlas.models import Net
from cnnatlas.models.blockconv import blockconv_net
from cnnatlas.probes.gradients import weighted_input_grad
from cnnatlas.probes.integrated_gradients import _quadrature, baseline_for
from cnnatlas.probes.pathgrad import (
    path_input_grads,
    suffix_sums,
    switch_geometry,
)
from cnnatlas.probes.relu_rules import with_rule
from tests.conftest import make_tiny_spec


@jax.jit
def _full_grad(net, v, target):
    return jax.grad(lambda u: net.run(u)[target])(v)


def _definition(net, ref, x, alphas, weights, target):
    """sum_k w_k grad z_target(ref + a_k (x - ref)), one full gradient per point (float64 sum)."""
    grads = [
        np.asarray(_full_grad(net, ref + a * (x - ref), target), np.float64)
        for a in np.asarray(alphas)
    ]
    return np.tensordot(np.asarray(weights, np.float64), np.asarray(grads), axes=1)


@pytest.mark.parametrize("m", [1, 9, 10, 23])
def test_suffix_sums_against_numpy(rng, m):
    v = rng.normal(size=(m, 3, 2)).astype(np.float32)
    want = np.concatenate([np.cumsum(v[::-1], axis=0)[::-1], np.zeros((1, 3, 2))])
    np.testing.assert_allclose(jax.jit(suffix_sums)(v), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
@pytest.mark.parametrize(("rule", "steps"), [("midpoint", 23), ("right", 7), ("trapezoid", 12)])
def test_equals_the_sum_of_full_gradients(padding, rule, steps):
    spec = make_tiny_spec(padding)
    params = spec.init(jax.random.key(3))
    bias = 0.3 * jax.random.normal(jax.random.key(4), (3,))  # init's zero bias: no switches
    net = Net({**params, "conv_a": {**params["conv_a"], "bias": bias}}, spec)
    assert switch_geometry(net) is not None
    x = jax.random.uniform(jax.random.key(8), (8, 8, 1))
    alphas, weights = (jnp.asarray(a, jnp.float32) for a in _quadrature(steps, rule))
    fast = jax.jit(path_input_grads)
    for ref in (jnp.zeros_like(x), baseline_for(x, "blurred", 1.0)):
        z1 = jax.vmap(lambda a, ref=ref: net.run(ref + a * (x - ref), stop="conv_a"))(alphas)
        switching = (z1 > 0).any(0) & ~(z1 > 0).all(0)
        assert switching.sum() >= 10  # units that switch along the path: the case it is about
        both = fast(net, ref, x, alphas, weights, jnp.asarray([0, 3], jnp.int32))
        for c, got in zip((0, 3), both, strict=True):
            want = _definition(net, ref, x, alphas, weights, c)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_trained_tinyvgg_with_and_without_the_block_lowering(trained):
    """Against the definition with lax's convolutions; with the block lowering, against the
    general weighted sum on the same lowered net. (The lowerings round differently, and
    max-pool windows over a constant background tie exactly under lax but not over blocks,
    where the gradient then takes another, equally valid, route.)"""
    net, xs, _ = trained
    block = blockconv_net(net)
    assert switch_geometry(block) == switch_geometry(net) != None  # noqa: E711
    alphas, weights = (jnp.asarray(a, jnp.float32) for a in _quadrature(50, "midpoint"))
    fast = jax.jit(path_input_grads)  # all targets in one call, as batched_grid runs it
    general = jax.jit(jax.vmap(weighted_input_grad, in_axes=(None, None, None, 0)))
    targets = jnp.arange(10, dtype=jnp.int32)
    for x in xs[:2]:
        x = jnp.asarray(x)
        ref = jnp.zeros_like(x)
        path = alphas[:, None, None, None] * x[None]
        got = np.asarray(fast(net, ref, x, alphas, weights, targets))
        for c in (0, 7):
            want = _definition(net, ref, x, alphas, weights, c)
            np.testing.assert_allclose(got[c], want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
        got = np.asarray(fast(block, ref, x, alphas, weights, targets))
        want = np.asarray(general(block, path, weights, targets))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())


def test_other_networks_fall_back(rng, tiny_net):
    assert switch_geometry(with_rule(tiny_net, "guided")) is None  # other backward masks
    net = mlp_net(rng.normal(size=(16, 5)), rng.normal(size=5), rng.normal(size=(5, 3)),
                  rng.normal(size=3))  # fmt: skip
    assert switch_geometry(net) is None
    x = jnp.asarray(rng.random((4, 4, 1)), jnp.float32)
    alphas, weights = (jnp.asarray(a, jnp.float32) for a in _quadrature(5, "midpoint"))
    got = path_input_grads(net, jnp.zeros_like(x), x, alphas, weights, jnp.asarray([1]))[0]
    want = _definition(net, jnp.zeros_like(x), x, alphas, weights, 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
