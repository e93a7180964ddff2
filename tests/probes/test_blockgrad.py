"""Input gradients with the backward pass written out over 2×2 blocks (probes/blockgrad.py,
SmoothGrad's) equal autodiff's (`gradients.weighted_input_grad` for each target), on every model
shape whose head runs over blocks, under the modified ReLU rules, with ties in the max-pools,
and fall back where they cannot."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnatlas.config import ModelConfig
from cnnatlas.models import Net, make_spec
from cnnatlas.models.base import ModelSpec, Stage, flatten, max_pool_2x2, relu
from cnnatlas.models.blockconv import blockconv_net
from cnnatlas.probes.blockgrad import block_input_grads
from cnnatlas.probes.gradients import weighted_input_grad
from cnnatlas.probes.relu_rules import with_rule


def _spec(*stages: Stage, shape=(12, 12, 2)) -> ModelSpec:
    return ModelSpec("t", shape, 3, (*stages, Stage("flatten", "flatten", op=flatten),
                                    Stage("dense", "dense", nn.Dense(3))))  # fmt: skip


def _conv(name, k=3, features=4, padding="VALID", **kw):
    return Stage(name, "conv", nn.Conv(features, (k, k), padding=padding, **kw))


R = Stage("r", "relu", op=relu)
COVERED = {
    "tinyvgg": make_spec(ModelConfig(name="tinyvgg"), (28, 28, 1), 10),
    "tinyvgg same": make_spec(ModelConfig(name="tinyvgg", padding="same"), (28, 28, 1), 10),
    "tinyvgg_gap": make_spec(ModelConfig(name="tinyvgg_gap"), (28, 28, 1), 10),
    "no pool, ends in blocks": _spec(_conv("a"), R, _conv("b", use_bias=False), shape=(14, 14, 1)),
    "5x5 then wide": _spec(
        _conv("a", k=5),
        R,
        _conv("b", features=16),
        Stage("p", "pool", op=max_pool_2x2),
        shape=(14, 14, 1),
    ),
}
NOT_COVERED = {
    "odd map size": make_spec(ModelConfig(name="tinyvgg"), (27, 30, 3), 10),
    "even first kernel": _spec(_conv("a", k=4), R, _conv("b"), shape=(13, 13, 1)),
    "no ReLU after the first convolution": _spec(_conv("a"), _conv("b")),
    "wide first convolution": _spec(_conv("a", features=16), R),
}


def _both(net: Net, xs: jax.Array, targets: jax.Array):
    weights = jnp.linspace(0.5, 1.5, len(xs), dtype=jnp.float32)
    net = blockconv_net(net)  # as batched_grid calls probes
    got = jax.jit(lambda v: block_input_grads(net, v, weights, targets))(xs)
    over = jax.vmap(weighted_input_grad, in_axes=(None, None, None, 0))
    want = jax.jit(lambda v: over(net, v, weights, targets))(xs)
    return got, want


@pytest.mark.parametrize("name", list(COVERED))
def test_equals_autodiff(name):
    spec = COVERED[name]
    net = Net(spec.init(jax.random.key(0)), spec)
    xs = jax.random.normal(jax.random.key(1), (5, *spec.input_shape))
    targets = jnp.array([2, 0, 2], jnp.int32)  # a repeated target gives the same map
    got, want = _both(net, xs, targets)
    assert got.shape == (3, *spec.input_shape)
    scale = float(jnp.abs(want).max())
    assert scale > 0
    np.testing.assert_allclose(got, want, atol=2e-6 * scale, rtol=0)
    np.testing.assert_allclose(got[0], got[2], atol=1e-6 * scale, rtol=0)


@pytest.mark.parametrize("rule", ["guided", "deconvnet"])
def test_modified_relu_rules_equal_their_custom_vjp(rule):
    """Guided backprop's and deconvnet's ReLU rules (relu_rules.py, SmoothGrad's other gradient
    bases) applied by hand equal autodiff through their custom_vjp."""
    spec = COVERED["tinyvgg"]
    net = with_rule(Net(spec.init(jax.random.key(3)), spec), rule)
    xs = jax.random.normal(jax.random.key(4), (4, *spec.input_shape))
    got, want = _both(net, xs, jnp.array([1, 7], jnp.int32))
    scale = float(jnp.abs(want).max())
    assert scale > 0
    np.testing.assert_allclose(got, want, atol=2e-6 * scale, rtol=0)


def test_max_pool_ties_split_as_autodiff_splits_them():
    """Constant regions tie all four pixels of a pooling window; lax's gradient of a maximum
    shares it equally among them, and so must the saved routing."""
    spec = COVERED["tinyvgg"]
    params = spec.init(jax.random.key(2))
    params["conv_1_1"]["bias"] = jnp.full_like(params["conv_1_1"]["bias"], 0.5)  # all units on
    net = Net(params, spec)
    xs = jnp.zeros((2, *spec.input_shape)).at[1, 10:20, 5:15].set(1.0)
    got, want = _both(net, xs, jnp.arange(10, dtype=jnp.int32))
    scale = float(jnp.abs(want).max())
    np.testing.assert_allclose(got, want, atol=2e-6 * scale, rtol=0)


@pytest.mark.parametrize("name", list(NOT_COVERED))
def test_none_where_the_head_does_not_run_over_blocks(name):
    spec = NOT_COVERED[name]
    net = blockconv_net(Net(spec.init(jax.random.key(0)), spec))
    xs = jnp.ones((2, *spec.input_shape))
    assert block_input_grads(net, xs, jnp.ones(2), jnp.zeros(1, jnp.int32)) is None
