"""The input-layer convolution lowering (models/inputconv.py, issue 10) is lax's convolution:
same values, same input and kernel gradients, same forward-mode and second-order derivatives,
under vmap too; everything it does not cover goes to lax unchanged; TinyVGG keeps its parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from cnnatlas.config import ModelConfig
from cnnatlas.models import Net, make_spec
from cnnatlas.models.base import train_forward
from cnnatlas.models.inputconv import MAX_CHANNELS, conv_general_dilated, elementwise_spec

DN = ("NHWC", "HWIO", "NHWC")
PADDINGS = ["VALID", "SAME", ((1, 2), (0, 1))]


def _data(c_in=1, k_out=6, shape=(3, 11, 9)):
    k1, k2, k3 = jax.random.split(jax.random.key(7), 3)
    x = jax.random.normal(k1, (*shape, c_in))
    w = jax.random.normal(k2, (3, 3, c_in, k_out))
    return x, w, k3


def _pair(padding):
    def ref(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)

    def new(x, w):
        return conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)

    return ref, new


@pytest.mark.parametrize("padding", PADDINGS)
def test_values_and_gradients_equal_lax(padding):
    x, w, key = _data()
    ref, new = _pair(padding)
    y = ref(x, w)
    np.testing.assert_allclose(new(x, w), y, rtol=1e-5, atol=1e-5)
    dy = jax.random.normal(key, y.shape)
    for got, want in zip(jax.vjp(new, x, w)[1](dy), jax.vjp(ref, x, w)[1](dy), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))
    # forward mode, both tangents at once
    tx, tw = jax.random.normal(key, x.shape), jax.random.normal(key, w.shape)
    np.testing.assert_allclose(
        jax.jvp(new, (x, w), (tx, tw))[1], jax.jvp(ref, (x, w), (tx, tw))[1], rtol=1e-5, atol=1e-4
    )


def test_second_order_and_vmap_equal_lax():
    x, w, key = _data(shape=(2, 7, 7))
    ref, new = _pair("VALID")

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) ** 2)

    v = jax.random.normal(key, x.shape)
    hvp = [jax.jvp(jax.grad(loss(c)), (x, w), (v, jnp.zeros_like(w)))[1] for c in (new, ref)]
    np.testing.assert_allclose(hvp[0], hvp[1], rtol=1e-4, atol=1e-5)
    # per-example calls under vmap (how Net.run is batched), gradient w.r.t. the shared kernel
    per = [jax.vmap(lambda xi, c=c: c(xi[None], w)[0]) for c in (new, ref)]
    np.testing.assert_allclose(per[0](x), per[1](x), rtol=1e-5, atol=1e-5)
    gw = [jax.grad(lambda w, c=c: jnp.sum(jax.vmap(lambda xi: c(xi[None], w)[0])(x) ** 2))(w)
          for c in (new, ref)]  # fmt: skip
    np.testing.assert_allclose(gw[0], gw[1], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"c_in": MAX_CHANNELS + 1},  # wide input: lax's convolution
        {"strides": (2, 1)},
        {"rhs_dilation": (2, 2)},
    ],
)
def test_uncovered_cases_are_lax_exactly(kwargs):
    x, w, _ = _data(c_in=kwargs.pop("c_in", 1))
    strides = kwargs.pop("strides", (1, 1))
    want = lax.conv_general_dilated(x, w, strides, "SAME", dimension_numbers=DN, **kwargs)
    got = conv_general_dilated(x, w, strides, "SAME", dimension_numbers=DN, **kwargs)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["tinyvgg", "resnet_small"])
def test_elementwise_spec_same_parameters_and_function(name):
    """The lowering is a choice inside nn.Conv (train.py uses `elementwise_spec`): same parameter
    tree and initial values, the same logits and input gradient, and the same training loss
    gradient (so the shipped weights still load and training reaches the same accuracy)."""
    spec = make_spec(ModelConfig(name=name), (28, 28, 1), 10)
    fast_spec = elementwise_spec(spec)
    assert elementwise_spec(spec) is fast_spec  # cached: the jitted step compiles once
    assert any(s.module is not None and s.module != f.module
               for s, f in zip(spec.stages, fast_spec.stages, strict=True))  # fmt: skip
    params = spec.init(jax.random.key(0))
    same = fast_spec.init(jax.random.key(0))
    assert jax.tree.structure(params) == jax.tree.structure(same)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(same), strict=True):
        np.testing.assert_array_equal(a, b)
    x = jax.random.uniform(jax.random.key(1), (28, 28, 1))
    fast, ref = Net(params, fast_spec), Net(params, spec)
    np.testing.assert_allclose(fast.run(x), ref.run(x), rtol=1e-5, atol=1e-5)
    g = [jax.grad(lambda x, n=n: n.run(x)[3])(x) for n in (fast, ref)]
    np.testing.assert_allclose(g[0], g[1], rtol=1e-4, atol=1e-6)
    xs = jax.random.uniform(jax.random.key(2), (4, 28, 28, 1))
    ys = jnp.arange(4, dtype=jnp.int32)

    def loss(p, s):
        logits, _ = train_forward(p, s, xs)
        return optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()

    gp = [jax.grad(loss)(params, s) for s in (fast_spec, spec)]
    for a, b in zip(jax.tree.leaves(gp[0]), jax.tree.leaves(gp[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()) + 1e-8)


@pytest.mark.parametrize("name", ["saliency", "gradcam", "guided_backprop", "smoothgrad"])
def test_probes_choose_their_lowering(name):
    """`batched_grid` runs a probe under this lowering where its ProbeSpec says so (measured
    faster for it), lax otherwise; either way the maps are lax's up to float rounding."""
    import dataclasses

    from cnnatlas.compute import JOB_OPTIONS
    from cnnatlas.probes import PROBES, batched_grid

    spec = make_spec(ModelConfig(name="tinyvgg"), (28, 28, 1), 10)
    net = Net(spec.init(jax.random.key(0)), spec)
    probe = PROBES[name]
    hp = {k: v for k, v in probe.defaults.items() if k not in JOB_OPTIONS}
    hp = {**hp, "layer": "conv_2_2"} if name == "gradcam" else {**hp, "n": 3}
    hp = {k: v for k, v in hp.items() if k in probe.defaults or k == "layer"}
    args = (
        net,
        jax.random.uniform(jax.random.key(1), (2, 28, 28, 1)),
        jnp.asarray([[1, 4], [0, 9]], jnp.int32),
        jnp.arange(8, dtype=jnp.uint32).reshape(2, 2, 2),
    )
    assert probe.elementwise_input_conv == (name != "smoothgrad")  # smoothgrad: measured slower
    flipped = dataclasses.replace(probe, elementwise_input_conv=not probe.elementwise_input_conv)
    convs = [  # lax convolutions in the traced program: this lowering replaces the first one's
        str(jax.make_jaxpr(batched_grid(p, **hp))(*args)).count("conv_general_dilated")
        for p in (probe, flipped)
    ]
    assert (convs[0] < convs[1]) == probe.elementwise_input_conv, convs
    a, b = batched_grid(probe, **hp)(*args), batched_grid(flipped, **hp)(*args)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()))
