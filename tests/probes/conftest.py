"""Fixtures for the probe tests: a TinyVGG trained briefly on real Fashion-MNIST, for
properties that only hold on a trained model (e.g. integrated gradients' completeness)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator per test: each test draws the same numbers in any order or selection
    of tests (a session-wide one drew per the order, different under pytest-xdist)."""
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def trained():
    """(net, xs, labels): TinyVGG after one short epoch on 4096 training images (~70 % test
    accuracy), and 32 test images."""
    from cnnatlas.config import DatasetConfig, TrainConfig
    from cnnatlas.data import load_dataset
    from cnnatlas.models.tinyvgg import make_spec
    from cnnatlas.train import train

    data = load_dataset(DatasetConfig())
    spec = make_spec(data.input_shape, len(data.class_names))
    cfg = TrainConfig(epochs=1, batch_size=64, train_limit=4096, learning_rate=0.005)
    result = train(spec, cfg, data.train_x, data.train_y, data.test_x[:256], data.test_y[:256], 0)
    return result.net, data.test_x[:32], data.test_y[:32]
