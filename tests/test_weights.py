"""Weights: trained once, reused; shipped files checked (shapes, NaN/Inf, unreadable)."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest
from flax import serialization

from cnnatlas.config import load_config
from cnnatlas.data import Dataset
from cnnatlas.errors import ModelError
from cnnatlas.weights import load_or_train, params_sha256
from tests.conftest import TINY_CONFIG, make_tiny_spec


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    y = (np.arange(64) % 5).astype(np.int32)
    return Dataset(x, y, x[:20], y[:20], tuple("abcde"), "d" * 64)


def cfg(tmp_path, weights=None):
    over = {"train": {"epochs": 1, "batch_size": 16, "train_limit": 0}}
    if weights:
        over["train"]["weights"] = str(weights)
    return load_config(TINY_CONFIG, over)


def test_trains_once_then_loads_from_cache(tmp_path, data):
    spec = make_tiny_spec()
    warnings = []
    _net1, p1 = load_or_train(cfg(tmp_path), spec, data, tmp_path, warnings.append)
    net2, p2 = load_or_train(cfg(tmp_path), spec, data, tmp_path, warnings.append)
    assert (p1.source, p2.source) == ("trained", "cache")
    assert p1.weights_sha256 == p2.weights_sha256 == params_sha256(net2.params)
    assert p2.test_acc == pytest.approx(p1.test_acc)
    assert warnings == []


def test_shipped_weights_written_then_used(tmp_path, data):
    spec = make_tiny_spec()
    shipped = tmp_path / "ship" / "w.msgpack"
    _, p1 = load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c1", print)
    assert (
        shipped.is_file() and json.loads(shipped.with_suffix(".json").read_text())["key"] == p1.key
    )
    _, p2 = load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c2", print)
    assert p2.source == "shipped" and p2.weights_sha256 == p1.weights_sha256


def _ship(tmp_path, data, mutate):
    spec = make_tiny_spec()
    shipped = tmp_path / "w.msgpack"
    load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c1", print)
    state = serialization.msgpack_restore(shipped.read_bytes())
    mutate(state)
    shipped.write_bytes(serialization.msgpack_serialize(state))
    return spec, shipped


def test_wrong_shape_names_parameter(tmp_path, data):
    def mutate(s):
        s["conv_b"]["kernel"] = np.zeros((3, 3, 3, 7), np.float32)

    spec, shipped = _ship(tmp_path, data, mutate)
    with pytest.raises(
        ModelError,
        match=r"w\.msgpack: .*\['conv_b'\]\['kernel'\]: expected shape \(3, 3, 3, 4\), got \(3, 3, 3, 7\)",
    ):
        load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c2", print)


def test_nan_weights_refused(tmp_path, data):
    def mutate(s):
        k = np.array(s["dense"]["kernel"])
        k[0, 0] = np.inf
        s["dense"]["kernel"] = k

    spec, shipped = _ship(tmp_path, data, mutate)
    with pytest.raises(ModelError, match=r"\['dense'\]\['kernel'\]: contains NaN or Inf"):
        load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c2", print)


def test_unreadable_weights_file(tmp_path, data):
    spec = make_tiny_spec()
    shipped = tmp_path / "w.msgpack"
    shipped.write_bytes(b"\x00garbage")
    shipped.with_suffix(".json").write_text("{}")
    with pytest.raises(ModelError, match="cannot read the weights.*delete the file to retrain"):
        load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c2", print)


def test_shipped_weights_for_other_config_warn_and_retrain(tmp_path, data):
    spec = make_tiny_spec()
    shipped = tmp_path / "w.msgpack"
    load_or_train(cfg(tmp_path, shipped), spec, data, tmp_path / "c1", print)
    warnings = []
    other = load_config(
        TINY_CONFIG,
        {"train": {"epochs": 2, "batch_size": 16, "train_limit": 0, "weights": str(shipped)}},
    )
    _, prov = load_or_train(other, spec, data, tmp_path / "c2", warnings.append)
    assert prov.source == "trained" and "another config" in warnings[0]


def test_accuracy_check_is_remembered_per_weights_and_data(tmp_path, data, monkeypatch):
    """Issue 10: loading the same weights for the same test set re-uses the checked accuracy;
    other weights, or another test set, are checked again."""
    from cnnatlas import weights

    spec = make_tiny_spec()
    net, _ = load_or_train(cfg(tmp_path), spec, data, tmp_path, print)
    calls = []
    real = weights.predict
    monkeypatch.setattr(weights, "predict", lambda *a: calls.append(1) or real(*a))
    want = float((np.asarray(real(net, data.test_x)).argmax(-1) == data.test_y).mean())
    for _ in range(2):  # the first load from the cache checks, the second remembers
        _, again = load_or_train(cfg(tmp_path), spec, data, tmp_path, print)
        assert (again.source, again.test_acc, calls) == ("cache", want, [1])
    assert weights.checked_accuracy(net, data, tmp_path) == want and calls == [1]
    fewer = dataclasses.replace(data, test_x=data.test_x[:7], test_y=data.test_y[:7])
    acc7 = float((np.asarray(real(net, fewer.test_x)).argmax(-1) == fewer.test_y).mean())
    assert weights.checked_accuracy(net, fewer, tmp_path) == acc7 and len(calls) == 2
    other = type(net)(jax.tree.map(lambda p: -p, net.params), net.spec)
    weights.checked_accuracy(other, data, tmp_path)
    assert len(calls) == 3
