"""Feature visualization (issue 5): objectives rise, algebra, transforms, parameterizations,
vmapped == per-unit loop, and the regularized recipe is smoother than the naive one."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from cnnatlas.optvis import NAIVE, REGULARIZED, param
from cnnatlas.optvis import objectives as obj
from cnnatlas.optvis import transform as T
from cnnatlas.optvis.loopconv import loop_friendly
from cnnatlas.optvis.render import layer_renderer, make_param, model_renderer, render, unit_keys
from tests.conftest import TINY_CONFIG, make_tiny_spec

FEW = NAIVE.replace(steps=8, learning_rate=0.1)


def _initial_value(net, objective, recipe, key) -> float:
    """The objective on the image `render` starts from (same key split as render)."""
    p = make_param(recipe, net.spec.input_shape)
    return float(objective(net, p.to_image(p.init(jax.random.split(key)[0]))))


OBJECTIVES = {
    "channel": lambda: obj.channel("conv_b", 1),
    "neuron": lambda: obj.neuron("conv_b", 2),
    "unit": lambda: obj.unit("flatten", 3),
    "class_logit": lambda: obj.class_logit(4),
    "difference": lambda: obj.channel("conv_a", 0) - obj.channel("conv_a", 1),
    "class_logit_l2": lambda: obj.class_logit(1) - 0.1 * obj.l2(),
    "penalties": lambda: obj.channel("conv_b", 0) - 0.1 * obj.total_variation() - 0.1 * obj.blur(),
}


RISES = [(name, FEW) for name in sorted(OBJECTIVES)] + [
    (name, REGULARIZED.replace(steps=8, learning_rate=0.1))
    for name in ("channel", "class_logit_l2")
]


@pytest.mark.parametrize(("name", "recipe"), RISES, ids=[f"{r.name}-{n}" for n, r in RISES])
def test_objective_rises(tiny_net, key, name, recipe):
    """lucid's behavioural test: a few ascent steps raise every kind of objective (every kind
    with the naive recipe; the regularized one, whose transforms make the trace noisy, on two)."""
    objective = OBJECTIVES[name]()
    before = _initial_value(tiny_net, objective, recipe, key)
    out = jax.jit(lambda n, k: render(n, objective, recipe, k))(tiny_net, key)
    assert out.image.shape == tiny_net.spec.input_shape and out.trace.shape == (recipe.steps,)
    assert (
        np.all(np.isfinite(out.image))
        and 0 <= float(out.image.min()) <= float(out.image.max()) <= 1
    )
    assert float(out.value) > before + 1e-4, (name, before, float(out.value))
    if recipe.transforms == "none":  # deterministic objective: the trace itself rises
        assert float(out.trace[-1]) > float(out.trace[0])


def test_objective_algebra(tiny_net):
    x = jax.random.uniform(jax.random.key(3), tiny_net.spec.input_shape)
    a, b = obj.channel("conv_a", 0), obj.neuron("conv_b", 1)
    va, vb = float(a(tiny_net, x)), float(b(tiny_net, x))
    cases = {
        "a + b": (a + b, va + vb),
        "a - b": (a - b, va - vb),
        "-a": (-a, -va),
        "2a": (2 * a, 2 * va),
        "a * 0.5": (a * 0.5, 0.5 * va),
        "sum": (sum([a, b]), va + vb),
        "a + 1": (a + 1.0, va + 1),
        "1 - a": (1.0 - a, 1 - va),
    }
    for label, (o, want) in cases.items():
        assert float(o(tiny_net, x)) == pytest.approx(want, rel=1e-5, abs=1e-6), label
    assert (a - b).name == "channel(conv_a, 0) + -(neuron(conv_b, 1))"
    with pytest.raises(TypeError):
        _ = a * b
    # the stage-level values agree with the one-stage objectives
    stages = tiny_net.all_stages(x)
    tgt = obj.target(
        (("channel", "conv_a"), ("neuron", "conv_b"), ("class_logit", "dense")),
        jnp.int32(1),
        jnp.int32(1),
    )
    assert float(tgt(tiny_net, x)) == pytest.approx(vb, rel=1e-6)
    assert float(obj.class_logit(2)(tiny_net, x)) == pytest.approx(float(stages["dense"][2]))


TRANSFORMS = {
    "pad": (T.pad(2), (12, 12, 1)),
    "jitter": (T.jitter(2), (8, 8, 1)),
    "scale": (T.scale((0.9, 1.1, 1.2)), (8, 8, 1)),
    "rotate": (T.rotate((-10, 5, 10)), (8, 8, 1)),
    "crop": (T.crop(6, 5), (6, 5, 1)),
    "standard": (T.compose(T.STANDARD), (12, 12, 1)),
}


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_static_shape_and_deterministic(name):
    t, shape = TRANSFORMS[name]
    img = jax.random.uniform(jax.random.key(1), (8, 8, 1))
    abstract = jax.eval_shape(t, jax.random.key(0), jax.ShapeDtypeStruct((8, 8, 1), jnp.float32))
    assert abstract.shape == shape  # known at trace time, whatever the key
    f = jax.jit(t)
    outs = [np.asarray(f(jax.random.key(s), img)) for s in (5, 5, 6, 7, 8, 9)]
    assert all(o.shape == shape and o.dtype == np.float32 for o in outs)
    np.testing.assert_array_equal(outs[0], outs[1])  # same key, same output
    if name in ("jitter", "scale", "rotate", "standard"):  # random: some key changes the output
        assert any(not np.array_equal(outs[0], o) for o in outs[2:])


def test_jitter_is_a_shift():
    img = jnp.arange(64, dtype=jnp.float32).reshape(8, 8, 1)
    out = np.asarray(T.jitter(2)(jax.random.key(0), img))[..., 0]
    base = np.asarray(img)[..., 0]
    shifts = [
        (dy, dx)
        for dy in range(-2, 3)
        for dx in range(-2, 3)
        if np.array_equal(out[2:-2, 2:-2], base[2 + dy : 6 + dy, 2 + dx : 6 + dx])
    ]
    assert len(shifts) == 1


@pytest.mark.parametrize("angle", [-10.0, 7.0, 25.0])
def test_rotate_matches_scipy(angle):
    yy, xx = np.mgrid[0:28, 0:28]
    img = np.exp(-((yy - 10) ** 2 / 20 + (xx - 17) ** 2 / 8)).astype(np.float32)[..., None]
    out = np.asarray(T.rotate((angle,))(jax.random.key(0), jnp.asarray(img)))[..., 0]
    ref = ndimage.rotate(img[..., 0], angle, reshape=False, order=1, mode="nearest")
    assert np.abs(out - ref).max() < 0.06  # three shears vs one bilinear rotation
    wrong = ndimage.rotate(img[..., 0], -angle, reshape=False, order=1, mode="nearest")
    assert np.abs(out - wrong).max() > 0.2


def test_scale_matches_scipy():
    img = np.random.default_rng(0).uniform(size=(10, 12, 2)).astype(np.float32)
    out = np.asarray(T.scale((1.25,))(jax.random.key(0), jnp.asarray(img)))
    c = np.array([4.5, 5.5])
    for ch in range(2):
        ref = ndimage.affine_transform(
            img[..., ch], np.eye(2) / 1.25, offset=c - c / 1.25, order=1, mode="nearest"
        )
        np.testing.assert_allclose(out[..., ch], ref, atol=1e-5)


@pytest.mark.parametrize("hw", [(28, 28), (7, 9), (8, 5)])
def test_irfft2_matrices_match_numpy(hw):
    h, w = hw
    rng = np.random.default_rng(1)
    spec = rng.normal(size=(3, h, w // 2 + 1)) + 1j * rng.normal(size=(3, h, w // 2 + 1))
    cy, sy, cx, sx = param.irfft2_matrices(h, w)
    ours = (cy @ spec.real - sy @ spec.imag) @ cx - (sy @ spec.real + cy @ spec.imag) @ sx
    np.testing.assert_allclose(ours, np.fft.irfft2(spec, s=(h, w)), atol=1e-4)


def test_fourier_param_is_a_scaled_spectrum_through_a_sigmoid():
    h, w = 7, 9
    p = param.fourier((h, w, 2), sd=0.5)
    raw = p.init(jax.random.key(0))
    assert raw.shape == (2, 2, h, w // 2 + 1)
    scale = np.sqrt(h * w) / np.maximum(param.rfft2d_freqs(h, w), 1 / max(h, w))
    s = np.asarray(raw[0]) * scale + 1j * np.asarray(raw[1]) * scale
    want = 1 / (1 + np.exp(-np.fft.irfft2(s, s=(h, w)).transpose(1, 2, 0) / 4))
    np.testing.assert_allclose(np.asarray(p.to_image(raw)), want, atol=1e-4)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_loop_friendly_conv_is_the_same_function(padding):
    spec = make_tiny_spec(padding)
    net = make_net(spec)
    fast = loop_friendly(net)
    assert any(type(s.module).__name__ == "LoopConv" for s in fast.spec.stages)
    x = jax.random.uniform(jax.random.key(2), spec.input_shape)
    np.testing.assert_allclose(fast.run(x), net.run(x), rtol=1e-5, atol=1e-6)
    g = jax.grad(lambda n, x: n.run(x)[1] + n.run(x, stop="conv_b").sum(), argnums=(0, 1))
    (gp_ref, gx_ref), (gp, gx) = g(net, x), g(fast, x)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-4, atol=1e-6)
    for a, b in zip(jax.tree.leaves(gp.params), jax.tree.leaves(gp_ref.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def make_net(spec):
    from cnnatlas.models import Net

    return Net(spec.init(jax.random.key(7)), spec)


def test_vmapped_over_units_equals_per_unit_loop(tiny_net, key):
    recipe = REGULARIZED.replace(steps=5)
    units = jnp.arange(3, dtype=jnp.int32)
    keys = unit_keys(key, 3)
    batched = layer_renderer("channel", "conv_b", recipe)(tiny_net, units, keys)
    one_unit = jax.jit(
        lambda n, k, kd: render(n, obj.channel("conv_b", k), recipe, jax.random.wrap_key_data(kd))
    )
    for k in range(3):
        one = one_unit(tiny_net, jnp.int32(k), keys[k])
        np.testing.assert_allclose(batched.image[k], one.image, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(batched.trace[k], one.trace, rtol=1e-4, atol=1e-5)
    # rows of several layers in one call == each layer's own call
    targets = (("channel", "conv_b"), ("class_logit", "dense"))
    js, ks = jnp.asarray([0, 0, 0, 1, 1], jnp.int32), jnp.asarray([0, 1, 2, 3, 4], jnp.int32)
    logit_keys = unit_keys(jax.random.key(9), 2)
    mixed = model_renderer(targets, recipe)(tiny_net, js, ks, np.concatenate([keys, logit_keys]))
    np.testing.assert_allclose(mixed.image[:3], batched.image, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mixed.trace[:3], batched.trace, rtol=1e-4, atol=1e-5)
    for row, k in ((3, 3), (4, 4)):  # the logit rows optimized, and report, their own logit
        logit = tiny_net.run(mixed.image[row])[k]
        assert float(mixed.value[row]) == pytest.approx(float(logit), rel=1e-4, abs=1e-5)


def test_layer_renderer_compiles_once(tiny_net, key):
    fn = layer_renderer("neuron", "conv_a", FEW)
    for seed in (1, 2):
        fn(tiny_net, jnp.arange(3, dtype=jnp.int32), unit_keys(jax.random.key(seed), 3))
    assert fn._cache_size() == 1


def _tv(images: np.ndarray) -> float:
    return float(np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())


def test_regularized_is_smoother_than_naive_on_the_trained_model(tiny_build):
    """Total variation of the maximizing images: Fourier + transforms < free pixels."""
    from cnnatlas.config import load_config
    from cnnatlas.data import load_dataset
    from cnnatlas.models import make_spec
    from cnnatlas.weights import load_or_train

    _, cache, _ = tiny_build
    cfg = load_config(TINY_CONFIG)
    data = load_dataset(cfg.dataset)
    data = dataclasses.replace(
        data,
        test_x=data.test_x[: cfg.compute.test_limit],
        test_y=data.test_y[: cfg.compute.test_limit],
    )
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    warnings: list[str] = []
    net, prov = load_or_train(cfg, spec, data, cache, warnings.append)
    assert prov.source == "cache"
    targets = (("channel", "conv_2_2"), ("class_logit", "dense"))
    js = np.repeat(np.arange(2, dtype=np.int32), 10)
    ks = np.tile(np.arange(10, dtype=np.int32), 2)
    keys = unit_keys(jax.random.key(0), 20)
    tv = {}
    for r in (NAIVE, REGULARIZED):
        out = model_renderer(targets, r.replace(steps=96))(net, js, ks, keys)
        for j, (_, layer) in enumerate(targets):
            tv[r.name, layer] = _tv(np.asarray(out.image[j * 10 : (j + 1) * 10]))
    for _, layer in targets:
        assert tv["regularized", layer] < tv["naive", layer], tv
