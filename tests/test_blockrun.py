"""The whole forward pass over 2×2 blocks (models/blockrun.py, training's) is `Net.run`: the same
logits and parameter gradients for every shipped model shape it covers, and for the stages it
hands back to `Net.run` (odd sizes, padding after a blocked map, wide or even kernels, dense)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnatlas.config import ModelConfig
from cnnatlas.models import Net, make_spec
from cnnatlas.models.base import ModelSpec, Stage, flatten, max_pool_2x2, relu
from cnnatlas.models.blockrun import run


def _spec(*stages: Stage, shape=(12, 12, 2)) -> ModelSpec:
    return ModelSpec("t", shape, 3, (*stages, Stage("flatten", "flatten", op=flatten),
                                    Stage("dense", "dense", nn.Dense(3))))  # fmt: skip


def _conv(name, k=3, features=4, padding="VALID", **kw):
    return Stage(name, "conv", nn.Conv(features, (k, k), padding=padding, **kw))


SPECS = {
    "tinyvgg": make_spec(ModelConfig(name="tinyvgg"), (28, 28, 1), 10),
    "tinyvgg same": make_spec(ModelConfig(name="tinyvgg", padding="same"), (28, 28, 1), 10),
    "tinyvgg odd": make_spec(ModelConfig(name="tinyvgg"), (27, 30, 3), 10),
    "tinyvgg_gap": make_spec(ModelConfig(name="tinyvgg_gap"), (28, 28, 1), 10),
    "same after blocks": _spec(
        _conv("a"),
        Stage("r", "relu", op=relu),
        _conv("b", padding="SAME"),
        Stage("p", "pool", op=max_pool_2x2),
    ),
    "odd output": _spec(_conv("a"), Stage("p", "pool", op=max_pool_2x2), shape=(11, 12, 2)),
    "5x5 and wide": _spec(
        _conv("a", k=5),
        Stage("r", "relu", op=relu),
        _conv("b", features=16),
        Stage("p", "pool", op=max_pool_2x2),
        shape=(14, 14, 1),
    ),
    "even kernel, no bias": _spec(
        _conv("a", k=4, use_bias=False), _conv("b", use_bias=False), shape=(13, 13, 1)
    ),
    "circular": _spec(_conv("a", padding="CIRCULAR"), Stage("p", "pool", op=max_pool_2x2)),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_logits_and_gradients_equal_net_run(name):
    spec = SPECS[name]
    params = spec.init(jax.random.key(0))
    xs = jax.random.uniform(jax.random.key(1), (3, *spec.input_shape))
    # jitted: op by op, the gradients below compiled dozens of small programs (~30 s a case)
    want = jax.jit(jax.vmap(Net(params, spec).run))(xs)
    got = jax.jit(jax.vmap(lambda x: run(params, spec, x)))(xs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))

    def loss(p, f):
        return jnp.sum(jnp.tanh(jax.vmap(f(p))(xs)) * jnp.arange(want.shape[-1])[None])

    g_new = jax.jit(jax.grad(lambda p: loss(p, lambda q: lambda x: run(q, spec, x))))(params)
    g_ref = jax.jit(jax.grad(lambda p: loss(p, lambda q: Net(q, spec).run)))(params)
    for a, b in zip(jax.tree.leaves(g_new), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()) + 1e-8)


def test_tinyvgg_stays_in_blocks_between_its_convolutions():
    """The point of the module: TinyVGG's program rearranges pixels into blocks only before
    each block's first convolution (2 transposes forward), not around every convolution."""
    spec = SPECS["tinyvgg"]
    params = spec.init(jax.random.key(0))
    x = jnp.zeros(spec.input_shape)
    jaxpr = str(jax.make_jaxpr(lambda x: run(params, spec, x))(x))
    assert jaxpr.count("conv_general_dilated") == 4
    # to_blocks / from_blocks: the one transpose of a 6-d view (the kernels' are 8-d einsums)
    assert jaxpr.count("permutation=(0, 1, 3, 2, 4, 5)") == 2, jaxpr
