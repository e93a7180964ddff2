"""Sanity-check results as site data: similarity per randomization level, the flag, pointing
scores, the map strips (PNG) and the correlation chart's geometry. No JAX here.

Input: `sanity.evaluate`'s results. Output: files, `site.extra["sanity"][method]` (the method
page's section, templates/_sanity.html) and the leaderboard keys in `site.extra["trust"]` /
`["trust_baselines"]` (see `metrics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import images
from ..figcache import Figure
from ..site import img_path
from .similarity import compare
from .synthetic import CLASSES, argmax_points

POINTING_EXAMPLES = 6  # synthetic images shown per method page
FLAG_SENTENCE = (
    "Its maps barely change when the model's learned weights are replaced by random ones, so "
    "they show the input or the method's own structure more than what the model learned."
)


def _mean(a: np.ndarray) -> float:
    return float(np.mean(a)) if np.size(a) else float("nan")


def chart(series: dict[str, list[float]], labels: list[str], width=420, height=220, pad=36):
    """SVG geometry: one polyline per series over the levels (x = index), y from min(0, lowest)
    to 1. Returns {"width", "height", "pad", "lines": [{"name", "points", "dots"}], "xticks",
    "yticks"}."""
    values = [v for s in series.values() for v in s if np.isfinite(v)]
    lo = min(0.0, np.floor(min(values, default=0.0) * 4) / 4)
    n = len(labels)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * i / max(1, n - 1)

    def y(v: float) -> float:
        return height - pad - (height - 1.5 * pad) * (v - lo) / (1.0 - lo)

    lines = []
    for name, vals in series.items():
        pts = [(round(x(i), 1), round(y(v), 1)) for i, v in enumerate(vals) if np.isfinite(v)]
        lines.append({"name": name, "points": " ".join(f"{a},{b}" for a, b in pts), "dots": pts})
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "lines": lines,
        "xticks": [{"x": round(x(i), 1), "label": lab} for i, lab in enumerate(labels)],
        "yticks": [{"y": round(y(t), 1), "label": f"{t:g}"} for t in (lo, 0.5, 1.0)],
    }


def _draw(m: np.ndarray, x: np.ndarray, signed: bool) -> Figure:
    """One map on its own scale (randomized maps differ in magnitude by orders), drawn lazily."""
    top = float(np.abs(m).max() if signed else max(float(m.max()), 0.0))
    if signed:
        return images.map_figure(m, -top, top, signed=True)
    return images.overlay_figure(x, m, 0.0, top, signed=False)


def pointing_examples(
    point: dict[str, Any], name: str, signed: bool, n: int
) -> tuple[list[tuple[str, Figure]], list[dict[str, Any]]]:
    """The first n synthetic images' maps of one method, with the box and the map's maximum as
    percentages of the image (drawn over it by CSS): (files, [{"img", "box", "dot", "hit",
    "cls"}])."""
    test = point["test"]
    maps = point["maps"][name][:n]
    h, w = maps.shape[1:]
    files, out = [], []
    for i, (m, (y, x)) in enumerate(zip(maps, argmax_points(maps), strict=True)):
        path = img_path("sanity", name, f"pointing-{i}")
        files.append((path, _draw(m, test.x[i], signed)))
        t, left, b, r = (int(v) for v in test.boxes[i])
        out.append(
            {
                "img": path,
                "box": {
                    "top": round(100 * t / h, 2),
                    "left": round(100 * left / w, 2),
                    "h": round(100 * (b - t) / h, 2),
                    "w": round(100 * (r - left) / w, 2),
                },
                "dot": {
                    "top": round(100 * (y + 0.5) / h, 2),
                    "left": round(100 * (x + 0.5) / w, 2),
                },
                "hit": bool(point["hits"][name][i]),
                "cls": CLASSES[int(test.y[i])],
            }
        )
    return files, out


def summarize(res: dict[str, Any], threshold: float) -> dict[str, dict[str, Any]]:
    """Numbers per method: {"layer", "model": {"spearman", "ssim"}: per level incl. level 0
    (the trained model, 1.0), "model_q": interquartile ranges, "data": {"spearman", "ssim"} or
    None, "pointing": share of hits or None, "n_pointing", "flag"}."""
    out = {}
    point = res.get("pointing") or {}
    for name, (layer, _, _) in res["jobs"].items():
        orig = res["originals"][name]
        s: dict[str, Any] = {"layer": layer, "model": None, "data": None, "pointing": None}
        known = res.get("similarity", {}).get(name)  # computed (and cached) by sanity.evaluate
        if name in res.get("model", {}):
            if known is not None:
                n_levels = len(known["model_spearman"])
                ms = ("spearman", "ssim")
                per = [{m: known[f"model_{m}"][i] for m in ms} for i in range(n_levels)]
            else:
                per = [compare(orig, m) for m in res["model"][name]]  # levels of {metric: (N,)}
            s["model"] = {k: [1.0] + [_mean(p[k]) for p in per] for k in ("spearman", "ssim")}
            s["model_q"] = {
                k: [np.percentile(p[k], [25, 75]).tolist() for p in per]
                for k in ("spearman", "ssim")
            }
        if name in res.get("data", {}):
            d = (
                {m: known[f"data_{m}"] for m in ("spearman", "ssim")}
                if known is not None
                else compare(orig, res["data"][name])
            )
            s["data"] = {k: _mean(v) for k, v in d.items()}
        if name in point.get("hits", {}):
            s["pointing"] = float(point["hits"][name].mean())
            s["n_pointing"] = int(point["hits"][name].size)
        s["flag"] = bool(s["model"] and s["model"]["spearman"][-1] > threshold)
        out[name] = s
    return out


def metrics(s: dict[str, Any]) -> dict[str, Any]:
    """Leaderboard keys of one method's summary (those of checks that ran)."""
    out: dict[str, Any] = {}
    if s["model"]:
        out["model_rand_spearman"] = s["model"]["spearman"][-1]
        out["model_rand_ssim"] = s["model"]["ssim"][-1]
        out["flag_model_independent"] = s["flag"]
    if s["data"]:
        out["data_rand_spearman"] = s["data"]["spearman"]
        out["data_rand_ssim"] = s["data"]["ssim"]
    if s["pointing"] is not None:
        out["pointing"] = s["pointing"]
    return out


def add_to_site(
    extra: dict[str, Any], res: dict[str, Any], samples: list, signed: dict[str, bool], cfg
) -> list[tuple[str, Figure]]:
    """Fill extra["sanity"] (per method page), extra["trust"] / ["trust_baselines"]; return the
    strip images. samples: the sample set (samples.Sample, in res order); signed: by method;
    cfg: config.TrustConfig."""
    if not res:
        return []
    nums = summarize(res, cfg.sanity_threshold)
    levels = list(res.get("levels", ()))
    labels = ["none"] + [("+" if i else "") + name for i, name in enumerate(levels)]
    point = res.get("pointing") or {}
    for name, b in (point.get("baselines") or {}).items():
        extra.setdefault("trust_baselines", {}).setdefault(name, {})["pointing"] = b
    files: list[tuple[str, Figure]] = []
    shown = samples[: min(cfg.sanity_examples, len(res["sample_ids"]))]  # the checked ones
    page: dict[str, Any] = {}
    for name, s in nums.items():
        extra.setdefault("trust", {}).setdefault(name, {}).update(metrics(s))
        strips = []
        for i, smp in enumerate(shown):
            maps = [res["originals"][name][i]]
            maps += [m[i] for m in res["model"].get(name, [])]
            row = []
            for j, m in enumerate(maps):
                path = img_path("sanity", name, smp.id, f"level-{j}")
                files.append((path, _draw(m, smp.x, signed[name])))
                row.append({"img": path, "label": labels[j]})
            data_img = None
            if name in res.get("data", {}):
                data_img = img_path("sanity", name, smp.id, "shuffled")
                files.append((data_img, _draw(res["data"][name][i], smp.x, signed[name])))
            strips.append({"id": smp.id, "maps": row, "shuffled": data_img})
        examples = []
        if name in point.get("maps", {}):
            more, examples = pointing_examples(point, name, signed[name], POINTING_EXAMPLES)
            files.extend(more)
        page[name] = {
            **s,
            "pointing_examples": examples,
            "levels": labels,
            "strips": strips,
            "chart": chart(s["model"], labels) if s["model"] else None,
            "rows": [
                {"label": lab, "spearman": s["model"]["spearman"][j], "ssim": s["model"]["ssim"][j]}
                for j, lab in enumerate(labels)
            ]
            if s["model"]
            else [],
        }
    extra["sanity"] = {
        "methods": page,
        "threshold": cfg.sanity_threshold,
        "flag_sentence": FLAG_SENTENCE,
        "data_model": {"test_acc": res["data_model"]["test_acc"]} if "data_model" in res else None,
        "pointing": {
            "tolerance": point["tolerance"],
            "n": len(point["test"].y),
            "test_acc": point["model"]["test_acc"],
            "baselines": point["baselines"],
        }
        if point
        else None,
    }
    return files
