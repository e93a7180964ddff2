"""Unit pages as data: PNGs (one feature-vis sprite per layer, the test images used as
examples) and plain values for the templates (crops, weight cells and histogram bars from
`unitgeometry`, class bars).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from . import images
from .config import FeatureVisConfig
from .featurevis import TITLES, Variant, variants
from .figcache import Figure
from .models import ModelSpec
from .site import ClassInfo, img_path
from .unitgeometry import crop, histogram, weight_cells
from .units import ReceptiveField, class_selectivity, receptive_fields, unit_layers

GRID, BIG, EXAMPLE = 56, 168, 72  # display sizes (CSS px) of grid cells, page images, examples


def sprite_files(fv: dict, order: dict[str, list[Variant]]) -> Iterator[tuple[str, Figure]]:
    """One PNG per layer: rows = variants, columns = units, each image at native resolution."""
    for layer, vs in order.items():
        if not vs:
            continue
        rows = [np.concatenate(list(fv[layer][v.name]["images"]), axis=1) for v in vs]
        yield (
            img_path("units", layer, "featurevis"),
            images.image_figure(np.concatenate(rows, axis=0)),
        )


def _examples(stats: dict, layer: str, k: int, tag: str, ctx: dict) -> list[dict]:
    shape, rf = ctx["shapes"][layer], ctx["rf"].get(layer)
    hw = ctx["input_hw"]
    out = []
    for v, i, p in zip(
        stats[f"{layer}/{tag}_val"][k],
        stats[f"{layer}/{tag}_idx"][k],
        stats[f"{layer}/{tag}_pos"][k],
        strict=True,
    ):
        if i < 0 or (tag == "bot" and v >= 0):  # bottom examples: only where the unit goes negative
            continue
        i = int(i)
        src = img_path("test", f"{i:05d}")
        ctx["used"].add(i)
        label = ctx["classes"][int(ctx["test_y"][i])]
        ex = {
            "idx": i,
            "value": float(v),
            "cls": label,
            "src": src,
            "sample": ctx["sample_ids"].get(i),
            "box": None,
            "crop": None,
        }
        if rf is not None:
            y, x = divmod(int(p), shape[1])
            box = rf.box(y, x, hw)
            ex["pos"] = (y, x)
            ex["box"] = {
                k2: round(100 * a / n, 3)
                for k2, a, n in (
                    ("top", box[0], hw[0]),
                    ("left", box[1], hw[1]),
                    ("h", box[2] - box[0], hw[0]),
                    ("w", box[3] - box[1], hw[1]),
                )
            }
            ex["crop"] = crop(src, f"receptive field of test image {i}", hw, box, EXAMPLE)
        out.append(ex)
    return out


def _fv_cells(layer: str, k: int, vs: list[Variant], fv: dict, hw: tuple[int, int]) -> list[dict]:
    """Unit k's maximizing images: windows onto the layer sprite (row = variant, column = unit)."""
    sprite = img_path("units", layer, "featurevis")
    natural = (len(vs) * hw[0], len(fv[layer][vs[0].name]["values"]) * hw[1]) if vs else hw
    cells = []
    for j, v in enumerate(vs):
        box = (j * hw[0], k * hw[1], (j + 1) * hw[0], (k + 1) * hw[1])
        alt = f"{layer} unit {k}, {v.name}"
        cells.append(
            {
                "name": v.name,
                "title": TITLES.get(v.name, v.name),
                "value": float(fv[layer][v.name]["values"][k]),
                "grid": crop(sprite, alt, natural, box, GRID),
                "big": crop(sprite, alt, natural, box, BIG),
            }
        )
    return cells


def _unit_stats(stats: dict, layer: str, k: int, kernel: np.ndarray, bias: np.ndarray) -> dict:
    units = kernel.shape[-1]
    norms = np.sqrt((kernel.reshape(-1, units) ** 2).sum(0))
    names = ("mean", "std", "frac_pos", "grad_act", "wgrad_norm", "wgrad_mean_norm")
    return {
        **{n: float(stats[f"{layer}/{n}"][k]) for n in names},
        "weight_norm": float(norms[k]),
        "weight_norm_rank": int((norms > norms[k]).sum()) + 1,
        "bias": float(bias[k]),
        "params": int(kernel[..., k].size + 1),
    }


def _input_shape(spec: ModelSpec, shapes: dict, layer: str) -> tuple[int, ...]:
    """What feeds `layer`: the previous stage's shape, looking through a flatten."""
    i = spec.index(layer)
    if i == 0:
        return spec.input_shape
    before = shapes[spec.stage_names[i - 1]]
    if spec.stages[i - 1].kind == "flatten" and i > 1:  # not through global average pooling
        return shapes[spec.stage_names[i - 2]]
    return before


def unit_peaks(spec: ModelSpec, acts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{unit layer: (K,) each unit's largest activation} of one sample's {stage: array}: all
    the unit pages need of the sample set, so its activations need not stay in memory."""
    return {n: np.asarray(acts[n]).reshape(-1, acts[n].shape[-1]).max(0) for n in unit_layers(spec)}


def layer_data(
    spec: ModelSpec,
    params: dict,
    fv: dict,
    order: dict[str, list[Variant]],
    stats: dict[str, np.ndarray],
    rf: dict[str, ReceptiveField],
    test_y: np.ndarray,
    classes: list[ClassInfo],
    sample_peaks: Mapping[str, Mapping[str, np.ndarray]],
    url: Any,
) -> tuple[list[dict], set[int]]:
    """Per unit layer: its units' page data. Returns (layers, test indices used as examples).

    url(layer, k) gives a unit page's site URL. sample_peaks: {sample id: `unit_peaks`}.
    """
    shapes = spec.shapes()
    hw = spec.input_shape[:2]
    ids = {int(s[5:]): s for s in sample_peaks if s.startswith("test-") and s[5:].isdigit()}
    ctx = {"shapes": shapes, "rf": rf, "input_hw": hw, "classes": classes, "test_y": test_y}
    ctx.update(used=set(), sample_ids=ids)
    names = unit_layers(spec)
    out = []
    for li, layer in enumerate(names):
        units = shapes[layer][-1]
        vs = order.get(layer, [])
        kernel = np.asarray(params[layer]["kernel"])
        bias = np.asarray(params[layer].get("bias", np.zeros(units)))
        in_shape = _input_shape(spec, shapes, layer)
        below = next((n for n in reversed(names[:li]) if shapes[n][-1] == in_shape[-1]), None)
        link = (lambda c, b=below: url(b, c)) if below else (lambda c: None)
        means, si = class_selectivity(stats[f"{layer}/rmean"], test_y, len(classes))
        unit_list = []
        for k in range(units):
            cmax = float(means[:, k].max()) or 1.0
            acts = [(float(p[layer][k]), sid) for sid, p in sample_peaks.items()]
            acts = sorted(acts, key=lambda t: (-t[0], t[1]))[:6]
            bars = [
                {
                    "cls": c,
                    "value": float(means[c.index, k]),
                    "pct": round(100 * float(means[c.index, k]) / cmax, 2),
                }
                for c in classes
            ]
            unit_list.append(
                {
                    "layer": layer,
                    "k": k,
                    "url": url(layer, k),
                    "fv": _fv_cells(layer, k, vs, fv, hw),
                    "top": _examples(stats, layer, k, "top", ctx),
                    "bottom": _examples(stats, layer, k, "bot", ctx),
                    "classes": bars,
                    "best": classes[int(means[:, k].argmax())],
                    "si": float(si[k]),
                    "hist": histogram(stats[f"{layer}/max"][:, k]),
                    "weights": weight_cells(kernel[..., k], in_shape, link),
                    "stats": _unit_stats(stats, layer, k, kernel, bias),
                    "samples": [{"id": sid, "value": v} for v, sid in acts],
                }
            )
        out.append(
            {
                "name": layer,
                "kind": spec.stage(layer).kind,
                "units": unit_list,
                "shape": shapes[layer],
                "variants": [
                    {"name": v.name, "title": TITLES.get(v.name, v.name), "row": j}
                    for j, v in enumerate(vs)
                ],
                "objective": vs[0].kind if vs else None,
                "logits": layer == spec.stage_names[-1],
                "rf": rf.get(layer),
            }
        )
    return out, ctx["used"]


def example_files(test_x: np.ndarray, used: set[int]) -> Iterator[tuple[str, Figure]]:
    """The test images shown as top / bottom examples, once each."""
    for i in sorted(used):
        yield img_path("test", f"{i:05d}"), images.image_figure(test_x[i])


def unit_site(
    spec: ModelSpec,
    params: dict,
    cfg: FeatureVisConfig,
    fv: dict,
    stats: dict[str, np.ndarray],
    test_x: np.ndarray,
    test_y: np.ndarray,
    classes: list[ClassInfo],
    sample_peaks: Mapping[str, Mapping[str, np.ndarray]],
    url: Any,
) -> tuple[list[tuple[str, Figure]], dict]:
    """Everything the unit pages need: (files to write, data for `site.extra["units"]`).

    The data: {"layers": [layer data], "names": unit layer names, "classvis": {class index:
    {"url", "fv"}}}; classvis only when the last stage's units are the classes.
    """
    order = {layer: variants(cfg, spec, layer) for layer in unit_layers(spec)}
    layers, used = layer_data(
        spec, params, fv, order, stats, receptive_fields(spec), test_y, classes, sample_peaks, url
    )
    files = [*sprite_files(fv, order), *example_files(test_x, used)]
    last = layers[-1] if layers else None
    classvis = {}
    if last and last["name"] == spec.stage_names[-1] and len(last["units"]) == len(classes):
        classvis = {
            c.index: {"url": last["units"][c.index]["url"], "fv": last["units"][c.index]["fv"]}
            for c in classes
        }
    return files, {
        "layers": layers,
        "names": frozenset(ln["name"] for ln in layers),
        "classvis": classvis,
    }
