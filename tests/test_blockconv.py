"""The block lowering of narrow convolutions (models/blockconv.py, issues 4 and 10) is lax's
convolution: the same values, input and kernel gradients, forward-mode and second-order
derivatives, under vmap too; what it does not cover goes to lax unchanged; models keep their
parameters and functions; every probe runs under it."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import lax

from cnnatlas.config import ModelConfig
from cnnatlas.models import Net, make_spec
from cnnatlas.models.base import train_forward
from cnnatlas.models.blockconv import (
    MAX_CHANNELS,
    block_conv,
    block_kernel,
    blockconv_spec,
    conv_general_dilated,
    from_blocks,
    to_blocks,
)

DN = ("NHWC", "HWIO", "NHWC")
PADDINGS = ["VALID", "SAME", ((1, 2), (0, 1))]


def _data(c_in=1, k_out=6, shape=(3, 11, 9), kernel=(3, 3)):
    k1, k2, k3 = jax.random.split(jax.random.key(7), 3)
    x = jax.random.normal(k1, (*shape, c_in))
    w = jax.random.normal(k2, (*kernel, c_in, k_out))
    return x, w, k3


def _pair(padding):
    def ref(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)

    def new(x, w):
        return conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=DN)

    return ref, new


def test_block_kernel_by_hand():
    """Entry (I, J, (a, b, c), (p, q, o)) of the block kernel is w[2I+a-p, 2J+b-q, c, o] where
    that tap exists, else 0 (a loop over every entry, independent of the einsum)."""
    w = np.asarray(jax.random.normal(jax.random.key(0), (3, 5, 2, 3)))
    wb = np.asarray(block_kernel(jnp.asarray(w)))
    assert wb.shape == (2, 3, 4 * 2, 4 * 3)
    for i, j, a, b, c, p, q, o in itertools.product(
        range(2), range(3), range(2), range(2), range(2), range(2), range(2), range(3)
    ):
        r, s = 2 * i + a - p, 2 * j + b - q
        want = w[r, s, c, o] if 0 <= r < 3 and 0 <= s < 5 else 0.0
        assert wb[i, j, (a * 2 + b) * 2 + c, (p * 2 + q) * 3 + o] == want


def test_blocks_round_trip_and_order():
    x = jnp.arange(2 * 4 * 6 * 3, dtype=jnp.float32).reshape(2, 4, 6, 3)
    b = to_blocks(x)
    assert b.shape == (2, 2, 3, 12)
    # block (1, 2) of image 1 holds pixels (2..3, 4..5), row phase first, then column, channel
    want = [x[1, 2 + a, 4 + c, ch] for a in range(2) for c in range(2) for ch in range(3)]
    np.testing.assert_array_equal(b[1, 1, 2], np.asarray(want))
    np.testing.assert_array_equal(from_blocks(b), x)


def test_small_case_by_hand():
    """A 4×5 image and a 3×3 kernel: the 2×3 valid outputs as sums written out in NumPy."""
    x = np.arange(20, dtype=np.float32).reshape(1, 4, 5, 1) / 7
    w = np.asarray([[1, -2, 0.5], [0, 3, -1], [2, 1, -0.25]], np.float32).reshape(3, 3, 1, 1)
    want = np.zeros((1, 2, 3, 1), np.float32)
    for r, c in itertools.product(range(2), range(3)):
        want[0, r, c, 0] = sum(x[0, r + i, c + j, 0] * w[i, j, 0, 0]
                               for i in range(3) for j in range(3))  # fmt: skip
    np.testing.assert_allclose(block_conv(jnp.asarray(x), jnp.asarray(w)), want, rtol=1e-6)


@pytest.mark.parametrize(
    "padding,shape,kernel,c_in,k_out",
    [
        (PADDINGS[0], (3, 11, 9), (3, 3), 1, 6),  # odd output sizes: a zero row and column
        (PADDINGS[1], (3, 11, 9), (3, 3), 1, 6),
        (PADDINGS[2], (3, 11, 9), (3, 3), 1, 6),
        ("VALID", (2, 12, 12), (3, 3), 10, 10),  # TinyVGG's second block
        ("SAME", (2, 8, 7), (5, 5), 3, 12),
        ("VALID", (2, 9, 10), (3, 5), 4, 2),  # non-square kernel
        ("SAME", (1, 6, 6), (7, 7), 12, 12),  # kernel larger than the padded image's blocks
    ],
)
def test_values_and_gradients_equal_lax(padding, shape, kernel, c_in, k_out):
    x, w, key = _data(c_in, k_out, shape, kernel)
    ref, new = _pair(padding)
    y = ref(x, w)
    scale = float(jnp.abs(y).max())
    np.testing.assert_allclose(new(x, w), y, rtol=1e-5, atol=1e-5 * scale)
    dy = jax.random.normal(key, y.shape)
    for got, want in zip(jax.vjp(new, x, w)[1](dy), jax.vjp(ref, x, w)[1](dy), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.abs(want).max()))
    # forward mode, both tangents at once
    tx, tw = jax.random.normal(key, x.shape), jax.random.normal(key, w.shape)
    np.testing.assert_allclose(jax.jvp(new, (x, w), (tx, tw))[1], jax.jvp(ref, (x, w), (tx, tw))[1],
                               rtol=1e-5, atol=1e-5 * scale)  # fmt: skip


def test_gradient_against_finite_differences():
    """Central differences in float64 NumPy of a few input pixels and kernel taps."""
    x, w, key = _data(c_in=2, k_out=3, shape=(1, 7, 8))
    dy = jax.random.normal(key, (1, 5, 6, 3))

    def f(x, w):
        return jnp.sum(conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=DN) * dy)

    gx, gw = jax.grad(f, argnums=(0, 1))(x, w)
    xn, wn, dyn = (np.asarray(a, np.float64) for a in (x, w, dy))

    def f64(xv, wv):
        out = sum(xv[:, i : i + 5, j : j + 6, :] @ wv[i, j] for i in range(3) for j in range(3))
        return float(np.sum(out * dyn))

    eps = 1e-3
    for idx in [(0, 0, 0, 0), (0, 3, 4, 1), (0, 6, 7, 1)]:
        e = np.zeros_like(xn)
        e[idx] = eps
        fd = (f64(xn + e, wn) - f64(xn - e, wn)) / (2 * eps)
        assert abs(float(gx[idx]) - fd) < 1e-4 * max(1.0, abs(fd))
    for idx in [(0, 0, 0, 0), (1, 2, 1, 2), (2, 2, 0, 1)]:
        e = np.zeros_like(wn)
        e[idx] = eps
        fd = (f64(xn, wn + e) - f64(xn, wn - e)) / (2 * eps)
        assert abs(float(gw[idx]) - fd) < 1e-4 * max(1.0, abs(fd))


def test_second_order_and_vmap_equal_lax():
    x, w, key = _data(c_in=3, shape=(2, 7, 7))
    ref, new = _pair("VALID")

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) ** 2)

    v = jax.random.normal(key, x.shape)
    hvp = [jax.jvp(jax.grad(loss(c)), (x, w), (v, jnp.zeros_like(w)))[1] for c in (new, ref)]
    # entries reach ~20 and are sums of terms that cancel: float32 rounding of either summation
    # order is ~1e-6 of the largest entry (an AVX2 host differed by 2.6e-5 at one entry of 0.07)
    scale = float(np.abs(np.asarray(hvp[1])).max())
    np.testing.assert_allclose(hvp[0], hvp[1], rtol=1e-4, atol=1e-5 * scale)
    # per-example calls under vmap (how Net.run is batched), gradient w.r.t. the shared kernel
    per = [jax.vmap(lambda xi, c=c: c(xi[None], w)[0]) for c in (new, ref)]
    np.testing.assert_allclose(per[0](x), per[1](x), rtol=1e-5, atol=1e-5)
    gw = [jax.grad(lambda w, c=c: jnp.sum(jax.vmap(lambda xi: c(xi[None], w)[0])(x) ** 2))(w)
          for c in (new, ref)]  # fmt: skip
    np.testing.assert_allclose(gw[0], gw[1], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"c_in": MAX_CHANNELS + 1},  # wide input
        {"k_out": MAX_CHANNELS + 1},  # wide output
        {"kernel": (2, 2)},  # small kernels grow too much over blocks
        {"kernel": (1, 3)},
        {"strides": (2, 1)},
        {"rhs_dilation": (2, 2)},
        {"padding": ((-1, 0), (0, 0))},  # negative padding crops
    ],
)
def test_uncovered_cases_are_lax_exactly(kwargs):
    x, w, _ = _data(c_in=kwargs.pop("c_in", 1), k_out=kwargs.pop("k_out", 6),
                    kernel=kwargs.pop("kernel", (3, 3)))  # fmt: skip
    strides, padding = kwargs.pop("strides", (1, 1)), kwargs.pop("padding", "SAME")
    want = lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=DN, **kwargs)
    got = conv_general_dilated(x, w, strides, padding, dimension_numbers=DN, **kwargs)
    np.testing.assert_array_equal(got, want)


def test_grouped_convolution_is_lax_exactly():
    x, w, _ = _data(c_in=4, k_out=6)
    w = w[:, :, :2]  # 2 groups of 2 input channels
    args = (x, w, (1, 1), "SAME")
    want = lax.conv_general_dilated(*args, dimension_numbers=DN, feature_group_count=2)
    got = conv_general_dilated(*args, dimension_numbers=DN, feature_group_count=2)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["tinyvgg", "tinyvgg_gap", "resnet_small"])
def test_blockconv_spec_same_parameters_and_function(name):
    """The lowering is a choice inside nn.Conv (training, prediction, probes and the deletion
    curves use it): the same parameter tree and initial values, the same logits and input
    gradient, and the same training loss gradient (so the shipped weights still load and
    training reaches the same accuracy)."""
    spec = make_spec(ModelConfig(name=name), (28, 28, 1), 10)
    fast_spec = blockconv_spec(spec)
    assert blockconv_spec(spec) is fast_spec  # cached: a jitted function compiles once
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
    # jitted: op by op, these gradients compiled dozens of small programs (~15 s a model)
    g = [jax.jit(jax.grad(lambda x, n=n: n.run(x)[3]))(x) for n in (fast, ref)]
    np.testing.assert_allclose(g[0], g[1], rtol=1e-4, atol=1e-6)
    xs = jax.random.uniform(jax.random.key(2), (4, 28, 28, 1))
    ys = jnp.arange(4, dtype=jnp.int32)

    def loss(p, s):
        logits, _ = train_forward(p, s, xs)
        return optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()

    gp = [jax.jit(jax.grad(loss), static_argnums=1)(params, s) for s in (fast_spec, spec)]
    for a, b in zip(jax.tree.leaves(gp[0]), jax.tree.leaves(gp[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(jnp.abs(b).max()) + 1e-8)


def _conv_widths(jaxpr: jax.extend.core.Jaxpr) -> list[int]:
    """Input feature counts of every convolution in a jaxpr and the jaxprs nested in it."""
    out = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            lhs_spec = eqn.params["dimension_numbers"].lhs_spec
            out.append(eqn.invars[0].aval.shape[lhs_spec[1]])
        for v in eqn.params.values():
            for sub in v if isinstance(v, tuple | list) else [v]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    out += _conv_widths(inner)
    return out


@pytest.mark.parametrize(
    "name", ["saliency", "gradcam", "guided_backprop", "smoothgrad", "integrated_gradients"]
)
def test_every_probe_runs_under_the_lowering(name):
    """`batched_grid` runs every probe with the block lowering (its traced convolutions read
    4·C channels), and its maps are those of the plain network up to float rounding."""
    from cnnatlas.compute import JOB_OPTIONS
    from cnnatlas.probes import PROBES, batched_grid

    spec = make_spec(ModelConfig(name="tinyvgg"), (28, 28, 1), 10)
    net = Net(spec.init(jax.random.key(0)), spec)
    probe = PROBES[name]
    hp = {k: v for k, v in probe.defaults.items() if k not in JOB_OPTIONS}
    hp = {**hp, "layer": "conv_2_2"} if name == "gradcam" else hp
    hp = {**hp, "n": 3} if name == "smoothgrad" else hp
    hp = {**hp, "steps": 8} if name == "integrated_gradients" else hp
    hp = {k: v for k, v in hp.items() if k in probe.defaults or k == "layer"}
    xs = jax.random.uniform(jax.random.key(1), (2, 28, 28, 1))
    ts = jnp.asarray([[1, 4], [0, 9]], jnp.int32)
    # one key per sample, the same for its targets (how `batched_grid` gives SmoothGrad's)
    kd = jnp.broadcast_to(jnp.arange(4, dtype=jnp.uint32).reshape(2, 1, 2), (2, 2, 2))
    fn = batched_grid(probe, **hp)
    widths = _conv_widths(jax.make_jaxpr(fn)(net, xs, ts, kd).jaxpr)
    assert widths and set(widths) <= {4, 40}, widths  # 4·1 (input), 4·10 (the rest)
    got = fn(net, xs, ts, kd)

    def plain(x, t, k):
        key = jax.random.wrap_key_data(k)
        return probe.fn(net, x, t, key, **hp)

    inner = jax.vmap(plain, in_axes=(None, 0, 0))
    want = jax.jit(jax.vmap(inner))(xs, ts, kd)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(jnp.abs(want).max()))
