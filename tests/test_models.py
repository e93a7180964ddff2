"""Model stages: hand-computed shapes and parameter counts, split consistency, weight checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnnatlas.config import ModelConfig
from cnnatlas.errors import ModelError
from cnnatlas.models import MODELS, Net, check_params, make_spec


def test_tinyvgg_valid_shapes_and_params_by_hand():
    spec = make_spec(ModelConfig(), (28, 28, 1), 10)
    shapes = spec.shapes()
    assert shapes["conv_1_1"] == (26, 26, 10)
    assert shapes["conv_1_2"] == (24, 24, 10)
    assert shapes["pool_1"] == (12, 12, 10)
    assert shapes["conv_2_1"] == (10, 10, 10)
    assert shapes["conv_2_2"] == (8, 8, 10)
    assert shapes["pool_2"] == (4, 4, 10)
    assert shapes["flatten"] == (160,)
    assert shapes["dense"] == (10,)
    counts = spec.param_counts()
    assert counts["conv_1_1"] == 3 * 3 * 1 * 10 + 10
    assert counts["conv_1_2"] == counts["conv_2_1"] == counts["conv_2_2"] == 3 * 3 * 10 * 10 + 10
    assert counts["dense"] == 160 * 10 + 10
    assert sum(counts.values()) == 4440


def test_tinyvgg_same_padding_and_width():
    spec = make_spec(ModelConfig(width=4, padding="same"), (28, 28, 1), 10)
    assert spec.shapes()["pool_2"] == (7, 7, 4)
    assert spec.param_counts()["dense"] == 7 * 7 * 4 * 10 + 10


@pytest.mark.parametrize("name", sorted(MODELS))
def test_run_from_any_stage_to_any_stage(name):
    shape = (64, 64, 3) if name == "tinyvgg64" else (28, 28, 1)  # tinyvgg64: fixed input
    spec = MODELS[name](shape, 10)
    net = Net(spec.init(jax.random.key(1)), spec)
    x = jax.random.uniform(jax.random.key(2), shape)
    full = net.run(x)
    for stage in spec.stage_names:
        mid = net.run(x, stop=stage)
        np.testing.assert_allclose(net.run(mid, start=stage), full, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(net.all_stages(x)["dense"], full, rtol=1e-6)


def test_pool_matches_reduce_window(tiny_net):
    a = jax.random.normal(jax.random.key(3), (6, 6, 4))
    from cnnatlas.models.base import max_pool_2x2

    ref = jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (2, 2, 1), (2, 2, 1), "VALID")
    np.testing.assert_array_equal(max_pool_2x2(a), ref)


def test_unknown_layer_lists_valid_names(tiny_net):
    with pytest.raises(ModelError, match=r"unknown layer 'conv_9'; expected one of conv_a, relu_a"):
        tiny_net.run(jnp.zeros((8, 8, 1)), stop="conv_9")


def test_check_params_lists_every_mismatch(tiny_net):
    params = jax.tree.map(np.asarray, tiny_net.params)
    params["conv_a"]["kernel"] = np.zeros((5, 5, 1, 3), np.float32)
    params["dense"]["bias"] = np.full((5,), np.nan, np.float32)
    with pytest.raises(
        ModelError,
        match=r"conv_a'\]\['kernel'\]: expected shape \(3, 3, 1, 3\), got \(5, 5, 1, 3\).*dense'\]\['bias'\]: contains NaN",
    ):
        check_params(tiny_net.spec, params, "w.msgpack")
    check_params(tiny_net.spec, tiny_net.params, "ok")  # the real tree passes


@pytest.mark.parametrize(("padding", "side"), [("valid", 16), ("same", 4)])
def test_images_too_small_for_the_model_are_refused_with_the_smallest_size(padding, side):
    # valid: 16 -> 14 -> 12 -> pool 6 -> 4 -> 2 -> pool 1; same: 4 -> pool 2 -> pool 1
    cfg = ModelConfig(padding=padding)
    assert make_spec(cfg, (side, side, 1), 10).shapes()["pool_2"][:2] == (1, 1)
    with pytest.raises(ModelError, match=rf"cannot take {side - 1}×{side - 1} images.*"
                                         rf"at least {side}×{side}"):  # fmt: skip
        make_spec(cfg, (side - 1, side - 1, 1), 10)
