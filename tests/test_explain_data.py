"""The explain page's data files (issue 7): exact round trip, and a NumPy re-implementation of
what the page computes (convolution from the stored input and weights, ReLU, pooling, dense,
softmax) reproduces the network's own stage outputs."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from cnnatlas import explaindata
from cnnatlas.models.base import Net
from cnnatlas.site import LayerInfo
from tests.conftest import make_tiny_spec


def _payload(js: bytes, target: str) -> dict:
    text = js.decode("ascii")
    head = f"window.CNNATLAS_EXPLAIN.{target} = "
    start = text.index(head) + len(head)
    return json.loads(text[start : text.rindex(";")])


def _export(net: Net, x: np.ndarray):
    spec = net.spec
    shapes = spec.shapes()
    layers = [
        LayerInfo(n, spec.stage(n).kind, shapes[n], 0, i) for i, n in enumerate(spec.stage_names)
    ]
    acts = {k: np.asarray(v) for k, v in net.all_stages(x).items()}
    acts["probs"] = np.asarray(jax.nn.softmax(acts["dense"]))
    geometry = {n: explaindata.conv_geometry(spec.stage(n).module) for n in spec.names_of("conv")}
    model = _payload(
        explaindata.model_file(
            layers, spec.input_shape, net.params, geometry, ["a", "b", "c", "d", "e"]
        ),
        "model",
    )
    sample = _payload(explaindata.sample_file("s-1", x, acts, layers), 'samples["s-1"]')
    return model, sample, acts


def _conv(x, kernel, bias, pad, stride):
    """Reference: out[i, j, k] = sum_{u, v, c} w[u, v, c, k] x[i*s + u - pad, j*s + v - pad, c] + b."""
    kh, kw, _, _ = kernel.shape
    h, w = x.shape[:2]
    ph, pw = pad
    xp = np.zeros((h + 2 * ph, w + 2 * pw, x.shape[2]), np.float64)
    xp[ph : ph + h, pw : pw + w] = x
    oh = (h + 2 * ph - kh) // stride[0] + 1
    ow = (w + 2 * pw - kw) // stride[1] + 1
    out = np.zeros((oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            win = xp[i * stride[0] : i * stride[0] + kh, j * stride[1] : j * stride[1] + kw]
            out[i, j] = np.tensordot(win, kernel, axes=3) + bias
    return out


@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_page_arithmetic_reproduces_the_stored_stages(padding):
    spec = make_tiny_spec(padding)
    net = Net(spec.init(jax.random.key(3)), spec)
    x = np.asarray(jax.random.uniform(jax.random.key(4), spec.input_shape), np.float32)
    model, sample, acts = _export(net, x)
    assert set(sample["stages"]) == {"conv_a", "conv_b", "dense"}  # relu / pool / flatten derived
    got = {"input": explaindata.unpack(sample["input"])}
    np.testing.assert_array_equal(got["input"], x)
    for st in model["stages"]:
        prev = got[st["from"]]
        if st["kind"] == "conv":
            want_pad = [0, 0] if padding == "VALID" else [1, 1]
            assert st["pad"] == want_pad and st["stride"] == [1, 1] and st["ksize"] == [3, 3]
            k, b = explaindata.unpack(st["kernel"]), explaindata.unpack(st["bias"])
            ref = _conv(prev, k, b, st["pad"], st["stride"])
            np.testing.assert_allclose(ref, acts[st["name"]], atol=1e-5)
        elif st["kind"] == "relu":
            ref = np.maximum(prev, 0)
        elif st["kind"] == "pool":
            h, w, c = prev.shape
            ref = prev[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))
        elif st["kind"] == "flatten":
            ref = prev.reshape(-1)
        else:
            k, b = explaindata.unpack(st["kernel"]), explaindata.unpack(st["bias"])
            ref = prev.astype(np.float64) @ k + b
            np.testing.assert_allclose(ref, acts["dense"], atol=1e-5)
        stored = sample["stages"].get(st["name"])
        if stored is not None:  # exported exactly, bit for bit
            np.testing.assert_array_equal(explaindata.unpack(stored), acts[st["name"]])
            got[st["name"]] = explaindata.unpack(stored)
        else:  # recomputed by the page: max and reshape are exact in float32
            np.testing.assert_array_equal(ref.astype(np.float32), acts[st["name"]])
            got[st["name"]] = ref.astype(np.float32)
    z = got["dense"].astype(np.float64)
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(p, explaindata.unpack(sample["probs"]), atol=1e-6)


def test_files_are_deterministic_and_name_their_samples():
    spec = make_tiny_spec()
    net = Net(spec.init(jax.random.key(0)), spec)
    x = np.zeros(spec.input_shape, np.float32)
    a, b = _export(net, x)[:2], _export(net, x)[:2]
    assert a == b
    model, sample = a
    assert [s["name"] for s in model["stages"]][:2] == ["conv_a", "relu_a"]
    assert model["stages"][0]["from"] == "input" and model["stages"][1]["from"] == "conv_a"
    assert sample["id"] == "s-1" and len(bytes.fromhex(model["luts"]["diverging"])) == 256 * 3
    assert explaindata.sample_path("test-00001") == "data/explain/test-00001.js"
