"""The playground's data files (issue 11): exact inputs, conv geometry as XLA pads, small files."""

from __future__ import annotations

import base64
import json

import flax.linen as nn
import jax
import numpy as np
import pytest

from cnnatlas.explaindata import unpack
from cnnatlas.playground import GLOBAL, conv_fields, model_file, pack_input, samples_file
from cnnatlas.samples import Sample
from tests.conftest import make_tiny_spec


def _payload(blob: bytes, target: str):
    """The JSON assigned to window.<GLOBAL>.<target> in a data file."""
    head, line = blob.decode("ascii").splitlines()
    assert head.startswith(f"window.{GLOBAL} = ")
    prefix = f"window.{GLOBAL}.{target} = "
    assert line.startswith(prefix) and line.endswith(";")
    return json.loads(line[len(prefix) : -1])


def test_inputs_travel_as_bytes_only_when_exact():
    k = np.arange(28 * 28).reshape(28, 28, 1) % 256
    x = k.astype(np.float32) / 255.0  # as data.py reads the IDX files
    packed = pack_input(x)
    assert "u8" in packed and np.array_equal(
        np.frombuffer(base64.b64decode(packed["u8"]), np.uint8).reshape(28, 28, 1), k
    )
    y = x.copy()
    y[3, 4, 0] = 0.3  # not k / 255: stored as float32, bit for bit
    packed = pack_input(y)
    assert "f32" in packed and np.array_equal(unpack(packed), y)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("n", [7, 8])
def test_same_padding_before_matches_xla(n, stride):
    conv = nn.Conv(2, (3, 3), strides=stride, padding="SAME")
    x = jax.random.normal(jax.random.key(0), (n, n, 1))
    params = conv.init(jax.random.key(1), x)
    want = conv.apply(params, x)
    f = conv_fields(conv, x.shape, want.shape)
    total = [max((o - 1) * stride + 3 - n, 0) for o in want.shape[:2]]
    explicit = [(lo, t - lo) for lo, t in zip(f["pad"], total, strict=True)]
    got = nn.Conv(2, (3, 3), strides=stride, padding=explicit).apply(params, x)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert f["stride"] == [stride, stride] and f["dilation"] == [1, 1] and f["groups"] == 1


def test_model_file_lists_every_stage_with_its_weights():
    spec = make_tiny_spec("SAME")
    params = spec.init(jax.random.key(0))
    blob = model_file(spec, params, ["a", "b", "c", "d", "e"])
    assert blob == model_file(spec, params, ["a", "b", "c", "d", "e"])  # deterministic
    m = _payload(blob, "model")
    assert [s["name"] for s in m["stages"]] == list(spec.stage_names)
    assert [s["kind"] for s in m["stages"]] == [s.kind for s in spec.stages]
    by = {s["name"]: s for s in m["stages"]}
    assert by["relu_a"]["op"] == "relu" and by["pool"]["op"] == "max_pool_2x2"
    assert by["conv_a"]["pad"] == [1, 1] and by["conv_a"]["shape"] == [8, 8, 3]
    for name in ("conv_a", "conv_b", "dense"):
        np.testing.assert_array_equal(unpack(by[name]["kernel"]), params[name]["kernel"])
        np.testing.assert_array_equal(unpack(by[name]["bias"]), params[name]["bias"])
    assert m["input"] == [8, 8, 1] and m["classes"] == ["a", "b", "c", "d", "e"]


def test_samples_file_is_small():
    rng = np.random.default_rng(0)
    samples, acts = [], {}
    for i in range(100):  # the default atlas: 10 per class
        x = rng.integers(0, 256, (28, 28, 1)).astype(np.float32) / 255.0
        samples.append(Sample(f"test-{i:05d}", x, i % 10, f"test set #{i}"))
        acts[samples[-1].id] = {"probs": rng.dirichlet(np.ones(10)).astype(np.float32)}
    blob = samples_file(samples, acts)
    assert len(blob) < 150_000
    got = _payload(blob, "samples")
    assert [s["id"] for s in got] == [s.id for s in samples]
    assert got[7]["pred"] == int(np.argmax(acts["test-00007"]["probs"]))
    np.testing.assert_array_equal(unpack(got[7]["probs"]), acts["test-00007"]["probs"])
