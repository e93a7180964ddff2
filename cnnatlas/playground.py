"""Data files of the playground page (issue 11): the trained model and the fixed samples.

The page (templates/static/playground-core.js) runs the network itself — forward pass and
Grad-CAM — on whatever the reader draws, uploads or picks. It gets two plain `<script>` files
that set `window.CNNATLAS_PLAYGROUND` (no fetch(): file:// blocks it):

- `data/playground/model.js`: input shape, class names, colour tables and the ordered stages,
  each `{name, kind, shape}` plus, by kind, `kernel` and `bias` (conv, dense), the convolution
  geometry (`ksize`, `stride`, `pad` = rows/columns of zeros before, `dilation`, `groups`) or
  the function of a parameter-free stage (`op`: relu, max_pool_2x2, flatten). Kinds and ops are
  copied from the ModelSpec as declared; the page refuses, with a message, any it does not know.
- `data/playground/samples.js`: the fixed sample set — id, label, the build's prediction and
  probabilities (the page checks itself against them), and the input.

Inputs travel as uint8 (value × 255) when that is exact — dataset images and converted user
images are k/255 in float32, and the page's `Math.fround(k / 255)` rebuilds the same float32 —
otherwise as float32. Arrays are base64 of little-endian bytes in C order (see explaindata.pack).
Activations and Grad-CAM maps are not shipped: the page computes them, and the browser test
compares them with the build's cached artifacts. No arrays are computed here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .explaindata import pack
from .images import LUTS
from .samples import Sample

if TYPE_CHECKING:  # not imported at run time: the pages read the paths below without JAX
    from .models.base import ModelSpec

GLOBAL = "CNNATLAS_PLAYGROUND"
_HEAD = f"window.{GLOBAL} = window.{GLOBAL} || {{}};\n"


def model_path() -> str:
    return "data/playground/model.js"


def samples_path() -> str:
    return "data/playground/samples.js"


def _pair(v: Any, default: int = 1) -> list[int]:
    if v is None:
        return [default, default]
    return [int(v), int(v)] if isinstance(v, int) else [int(u) for u in v]


def conv_fields(module: Any, in_shape: Sequence[int], out_shape: Sequence[int]) -> dict[str, Any]:
    """Geometry of a flax `nn.Conv` as plain values: ksize, stride, pad (before), dilation, groups.

    'SAME' pads as XLA does: total = max((out - 1)·s + k - n, 0), half of it (rounded down)
    before; 'VALID' pads nothing; explicit ((top, bottom), (left, right)) keeps its tops. Other
    modes (CIRCULAR, CAUSAL) are passed on as `padding` for the page to refuse.
    """
    k = [int(v) for v in module.kernel_size]
    s = _pair(module.strides)
    pad = module.padding
    out: dict[str, Any] = {"ksize": k, "stride": s}
    if isinstance(pad, str) and pad.upper() == "SAME":
        out["pad"] = [
            max((o - 1) * st + kk - n, 0) // 2
            for o, st, kk, n in zip(out_shape[:2], s, k, in_shape[:2], strict=True)
        ]
    elif isinstance(pad, str) and pad.upper() == "VALID":
        out["pad"] = [0, 0]
    elif isinstance(pad, str):
        out["pad"], out["padding"] = [0, 0], pad.upper()
    else:
        out["pad"] = [int(p[0]) if not isinstance(p, int) else int(p) for p in pad]
    out["dilation"] = [
        a * b
        for a, b in zip(_pair(module.kernel_dilation), _pair(module.input_dilation), strict=True)
    ]
    out["groups"] = int(module.feature_group_count)
    return out


def stage_list(spec: ModelSpec, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stages as the page needs them (see the module docstring), in order."""
    shapes = spec.shapes()
    prev: Sequence[int] = spec.input_shape
    out = []
    for stage in spec.stages:
        st: dict[str, Any] = {
            "name": stage.name,
            "kind": stage.kind,
            "shape": list(shapes[stage.name]),
        }
        if stage.module is not None:
            p = params.get(stage.name, {})
            st.update({k: pack(p[k]) for k in ("kernel", "bias") if k in p})
            if stage.kind == "conv":
                st.update(conv_fields(stage.module, prev, shapes[stage.name]))
        elif stage.op is not None:
            st["op"] = getattr(stage.op, "__name__", "?")
        out.append(st)
        prev = shapes[stage.name]
    return out


def pack_input(x: np.ndarray) -> dict[str, Any]:
    """An input (H, W, C) float32 as {"shape", "u8"} when x == u8 / 255 exactly, else pack(x)."""
    x = np.asarray(x, np.float32)
    u8 = np.clip(np.round(x * 255), 0, 255).astype(np.uint8)
    if np.array_equal(u8.astype(np.float32) / 255.0, x):
        return {"shape": list(x.shape), "u8": base64.b64encode(u8.tobytes()).decode("ascii")}
    return pack(x)


def _js(target: str, payload: Any) -> bytes:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (_HEAD + f"window.{GLOBAL}.{target} = {body};\n").encode("ascii")


def model_file(spec: ModelSpec, params: Mapping[str, Any], class_names: Sequence[str]) -> bytes:
    """`data/playground/model.js`. params: {stage: {"kernel": ..., "bias": ...}} (any arrays)."""
    payload = {
        "name": spec.name,
        "input": list(spec.input_shape),
        "classes": list(class_names),
        "stages": stage_list(spec, params),
        "luts": {name: bytes(lut.reshape(-1)).hex() for name, lut in sorted(LUTS.items())},
    }
    return _js("model", payload)


def samples_file(samples: Sequence[Sample], acts: Mapping[str, Mapping[str, np.ndarray]]) -> bytes:
    """`data/playground/samples.js`: the fixed set, in site order, with the build's probs."""
    payload = [
        {
            "id": s.id,
            "label": s.label,
            "source": s.source,
            "pred": int(np.argmax(acts[s.id]["probs"])),
            "probs": pack(acts[s.id]["probs"]),
            "input": pack_input(s.x),
        }
        for s in samples
    ]
    return _js("samples", payload)


def playground_files(
    spec: ModelSpec,
    params: Mapping[str, Any],
    class_names: Sequence[str],
    samples: Sequence[Sample],
    acts: Mapping[str, Mapping[str, np.ndarray]],
) -> Iterator[tuple[str, bytes]]:
    """Both data files as (site-relative path, bytes); deterministic."""
    yield model_path(), model_file(spec, params, class_names)
    yield samples_path(), samples_file(samples, acts)
