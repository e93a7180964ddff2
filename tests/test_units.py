"""Unit statistics and unit pages (issue 5): receptive fields, the one-pass top-k against a
brute-force NumPy top-k, class selectivity, gradient statistics, and the built pages."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnnatlas.config import FeatureVisConfig, ModelConfig
from cnnatlas.errors import ConfigError
from cnnatlas.featurevis import check_config
from cnnatlas.models import Net, make_spec
from cnnatlas.units import class_selectivity, dataset_pass, receptive_fields, unit_layers
from tests.conftest import make_tiny_spec


def test_tinyvgg_receptive_fields_by_hand():
    rf = receptive_fields(make_spec(ModelConfig(), (28, 28, 1), 10))
    sizes = {n: r.size for n, r in rf.items()}
    assert sizes == {
        "conv_1_1": 3,
        "relu_1_1": 3,
        "conv_1_2": 5,
        "relu_1_2": 5,
        "pool_1": 6,
        "conv_2_1": 10,
        "relu_2_1": 10,
        "conv_2_2": 14,
        "relu_2_2": 14,
        "pool_2": 16,
    }
    assert [rf[n].jump for n in ("conv_1_2", "pool_1", "conv_2_2", "pool_2")] == [1, 2, 2, 4]
    # conv_2_2 output (0, 0) sees input rows/cols 0..13; (7, 7) sees 14..27 (the last ones)
    assert rf["conv_2_2"].box(0, 0, (28, 28)) == (0, 0, 14, 14)
    assert rf["conv_2_2"].box(7, 7, (28, 28)) == (14, 14, 28, 28)
    assert rf["pool_2"].box(3, 1, (28, 28)) == (12, 4, 28, 20)


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_receptive_field_box_is_the_gradient_support(padding):
    """Independent reference: with positive weights and inputs, the input pixels that move a
    conv output are exactly its receptive field (clipped at the border for SAME padding)."""
    spec = make_tiny_spec(padding)
    params = jax.tree.map(lambda p: jnp.abs(p) + 0.1, spec.init(jax.random.key(0)))
    net = Net(params, spec)
    x = jnp.ones(spec.input_shape)
    rf = receptive_fields(spec)
    for layer in ("conv_a", "conv_b"):
        h, w = spec.shapes()[layer][:2]
        for y, xx in ((0, 0), (h // 2, w // 2), (h - 1, w - 1)):
            g = np.asarray(
                jax.grad(lambda img, y=y, xx=xx, layer=layer: net.run(img, stop=layer)[y, xx, 0])(x)
            )[..., 0]
            rows, cols = np.nonzero(g)
            want = rf[layer].box(y, xx, spec.input_shape[:2])
            assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == want, (layer, y, xx)


@pytest.fixture(scope="module")
def pass_data(tiny_net):
    rng = np.random.default_rng(0)
    xs = rng.uniform(size=(37, 8, 8, 1)).astype(np.float32)
    ys = rng.integers(0, 5, size=37).astype(np.int32)
    stats = dataset_pass(tiny_net, xs, ys, k=4, chunk=10)  # 4 chunks, the last one padded
    return xs, ys, stats


def test_topk_equals_bruteforce_numpy(tiny_net, pass_data):
    xs, _, stats = pass_data
    every = jax.vmap(tiny_net.all_stages)(jnp.asarray(xs))
    for layer in unit_layers(tiny_net.spec):
        a = np.asarray(every[layer]).reshape(len(xs), -1, every[layer].shape[-1])  # (N, P, K)
        mx, mn = a.max(1), a.min(1)
        for k in range(a.shape[-1]):
            top = np.argsort(-mx[:, k], kind="stable")[:4]
            bot = np.argsort(mn[:, k], kind="stable")[:4]
            np.testing.assert_array_equal(stats[f"{layer}/top_idx"][k], top)
            np.testing.assert_allclose(
                stats[f"{layer}/top_val"][k], mx[top, k], rtol=1e-5, atol=1e-6
            )
            np.testing.assert_array_equal(stats[f"{layer}/top_pos"][k], a[top, :, k].argmax(1))
            np.testing.assert_array_equal(stats[f"{layer}/bot_idx"][k], bot)
            np.testing.assert_allclose(
                stats[f"{layer}/bot_val"][k], mn[bot, k], rtol=1e-5, atol=1e-6
            )
            np.testing.assert_array_equal(stats[f"{layer}/bot_pos"][k], a[bot, :, k].argmin(1))
        np.testing.assert_allclose(stats[f"{layer}/max"], mx, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            stats[f"{layer}/rmean"], np.maximum(a, 0).mean(1), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(stats[f"{layer}/mean"], a.mean((0, 1)), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(stats[f"{layer}/std"], a.std((0, 1)), rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(stats[f"{layer}/frac_pos"], (a > 0).mean((0, 1)), rtol=1e-6)


def test_gradient_statistics_match_direct_gradients(tiny_net, pass_data):
    xs, ys, stats = pass_data

    def loss(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(Net(params, tiny_net.spec).run(x), y)

    # ‖mean per-image gradient‖ == ‖gradient of the mean loss‖ (a different computation)
    mean_grad = jax.grad(lambda p: jax.vmap(lambda x, y: loss(p, x, y))(xs, ys).mean())(
        tiny_net.params
    )
    per = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(tiny_net.params, xs, ys)
    for layer in unit_layers(tiny_net.spec):
        kern, bias = np.asarray(mean_grad[layer]["kernel"]), np.asarray(mean_grad[layer]["bias"])
        units = kern.shape[-1]
        want = np.sqrt((kern.reshape(-1, units) ** 2).sum(0) + bias**2)
        np.testing.assert_allclose(stats[f"{layer}/wgrad_mean_norm"], want, rtol=1e-3, atol=1e-7)
        pk, pb = np.asarray(per[layer]["kernel"]), np.asarray(per[layer]["bias"])
        norms = np.sqrt((pk.reshape(len(xs), -1, units) ** 2).sum(1) + pb**2)
        np.testing.assert_allclose(
            stats[f"{layer}/wgrad_norm"], norms.mean(0), rtol=1e-3, atol=1e-7
        )


def test_class_selectivity_by_hand():
    ys = np.array([0, 0, 1, 1, 2, 2])
    one_class = np.array([[2.0], [2.0], [0.0], [0.0], [0.0], [0.0]])  # fires for class 0 only
    even = np.ones((6, 1))
    half = np.array([[3.0], [3.0], [1.0], [1.0], [1.0], [1.0]])  # (3 - 1) / (3 + 1)
    means, si = class_selectivity(np.concatenate([one_class, even, half], 1), ys, 3)
    np.testing.assert_allclose(means[:, 0], [2, 0, 0])
    np.testing.assert_allclose(si, [1.0, 0.0, 0.5])


def test_unknown_recipe_is_refused():
    with pytest.raises(
        ConfigError, match="unknown recipe 'fancy'; expected one of naive, regularized"
    ):
        check_config(FeatureVisConfig(recipes=("naive", "fancy")), "atlas.toml: featurevis")


def test_every_unit_has_a_page(tiny_build):
    site, _, _ = tiny_build
    spec = make_spec(ModelConfig(), (28, 28, 1), 10)
    shapes = spec.shapes()
    for layer in unit_layers(spec):
        for k in range(shapes[layer][-1]):
            page = site / "units" / layer / str(k) / "index.html"
            assert page.is_file(), page
        sprite = site / "img" / "units" / layer / "featurevis.png"
        assert sprite.is_file()
        html = (site / "layers" / layer / "index.html").read_text()
        assert (
            html.count("featurevis.png") >= shapes[layer][-1]
        )  # the grid: one sprite, many windows
        assert f'href="../../units/{layer}/0/index.html"' in html
    unit = (site / "units" / "conv_2_2" / "3" / "index.html").read_text()
    for section in (
        'id="maximizing"',
        'id="examples"',
        'id="selectivity"',
        'id="statistics"',
        'id="weights"',
    ):
        assert section in unit
    assert len(re.findall(r'class="rf"', unit)) >= 9  # receptive-field boxes on the top examples
    sample = next((site / "samples").glob("test-*/index.html")).read_text()
    assert "../../units/conv_1_1/0/index.html" in sample  # sample pages link to unit pages
    klass = next((site / "classes").glob("*/index.html")).read_text()
    assert 'id="classvis"' in klass and "img/units/dense/featurevis.png" in klass
