"""Data files of the explain page (issue 7): the model's weights once, and each sample's numbers.

The page computes convolutions, ReLU, pooling, the dense layer and softmax in the browser from
the real weights, and shows that the result equals the stored activation. It therefore gets:

- `data/explain/model.js`: stages (name, kind, output shape, the stage it reads), kernels and
  biases, convolution padding and stride, class names and the colour tables of `images.py`;
- `data/explain/<sample id>.js`: the input and the outputs of the stages with parameters (conv,
  dense), plus the softmax probabilities.

ReLU, pooling and flatten outputs are not stored: they are max() and reshape of stored values,
which the browser recomputes exactly (bit for bit; tested in tests/test_explain_data.py).
Arrays travel as base64 of little-endian float32, so the page sees the very numbers the build
computed. Plain `<script>` files set `window.CNNATLAS_EXPLAIN` (no fetch(): file:// blocks it).
No JAX here: parameters arrive as arrays (NumPy or anything `np.asarray` takes).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .images import LUTS
from .site import LayerInfo

GLOBAL = "CNNATLAS_EXPLAIN"
STORED_KINDS = ("conv", "dense")  # stages whose outputs the sample files carry
_HEAD = f"window.{GLOBAL} = window.{GLOBAL} || {{samples: {{}}}};\n"


def model_path() -> str:
    return "data/explain/model.js"


def sample_path(sample_id: str) -> str:
    return f"data/explain/{sample_id}.js"


def pack(a: Any) -> dict[str, Any]:
    """An array as {"shape": [...], "f32": base64 of its little-endian float32 bytes (C order)}."""
    arr = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
    return {"shape": list(arr.shape), "f32": base64.b64encode(arr.tobytes()).decode("ascii")}


def unpack(d: Mapping[str, Any]) -> np.ndarray:
    """Inverse of `pack` (used by the tests)."""
    raw = base64.b64decode(d["f32"])
    return np.frombuffer(raw, dtype="<f4").reshape(d["shape"]).astype(np.float32)


def conv_geometry(module: Any) -> dict[str, Any]:
    """Kernel size, stride and (top, left) padding of a flax `nn.Conv`, as plain ints.

    'SAME' pads (k - 1) // 2 before and the rest after, as XLA does; explicit padding is
    accepted as ((top, bottom), (left, right)). Only what the page needs is returned.
    """
    k = tuple(int(v) for v in module.kernel_size)
    strides = module.strides or 1
    s = (strides, strides) if isinstance(strides, int) else tuple(int(v) for v in strides)
    pad = module.padding
    if isinstance(pad, str):
        lo = [0, 0] if pad.upper() == "VALID" else [(kk - 1) // 2 for kk in k]
    else:
        lo = [int(p[0]) for p in pad]
    return {"ksize": list(k), "stride": list(s), "pad": lo}


def _js(payload: Any, target: str) -> bytes:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (_HEAD + f"window.{GLOBAL}.{target} = {body};\n").encode("ascii")


def model_file(
    layers: list[LayerInfo],
    input_shape: tuple[int, ...],
    params: Mapping[str, Mapping[str, Any]],
    geometry: Mapping[str, dict[str, Any]],
    class_names: list[str],
) -> bytes:
    """`data/explain/model.js`: stages in order, each with the stage it reads ("input" first).

    Args:
      params: {stage: {"kernel": (kh, kw, Cin, Cout) or (D, C), "bias": (Cout,)}}.
      geometry: {conv stage: conv_geometry(...)}.
    """
    stages, prev = [], "input"
    for layer in layers:
        st: dict[str, Any] = {
            "name": layer.name,
            "kind": layer.kind,
            "shape": list(layer.shape),
            "from": prev,
            "signed": layer.signed,
        }
        if layer.name in params:
            st["kernel"] = pack(params[layer.name]["kernel"])
            st["bias"] = pack(params[layer.name]["bias"])
        if layer.name in geometry:
            st.update(geometry[layer.name])
        stages.append(st)
        prev = layer.name
    luts = {name: bytes(lut.reshape(-1)).hex() for name, lut in sorted(LUTS.items())}
    payload = {
        "input": list(input_shape),
        "classes": list(class_names),
        "stages": stages,
        "luts": luts,
        "stored": list(STORED_KINDS),
    }
    return _js(payload, "model")


def sample_file(
    sample_id: str, x: np.ndarray, acts: Mapping[str, np.ndarray], layers: list[LayerInfo]
) -> bytes:
    """`data/explain/<id>.js`: input (H, W, C), outputs of the conv and dense stages, probs."""
    payload = {
        "id": sample_id,
        "input": pack(x),
        "stages": {ly.name: pack(acts[ly.name]) for ly in layers if ly.kind in STORED_KINDS},
        "probs": pack(acts["probs"]),
    }
    return _js(payload, f"samples[{json.dumps(sample_id)}]")


def explain_files(
    layers: list[LayerInfo],
    input_shape: tuple[int, ...],
    params: Mapping[str, Mapping[str, Any]],
    geometry: Mapping[str, dict[str, Any]],
    class_names: list[str],
    samples: list[Any],
    acts: Mapping[str, Mapping[str, np.ndarray]],
) -> Iterator[tuple[str, bytes]]:
    """Every data file of the explain page as (site-relative path, bytes), deterministic."""
    yield model_path(), model_file(layers, input_shape, params, geometry, class_names)
    for s in samples:
        yield sample_path(s.id), sample_file(s.id, s.x, acts[s.id], layers)
