"""Deletion / insertion results as site data: summaries, leaderboard metrics, chart geometry.

No JAX here (pages import it). Input: `faithfulness.run_faithfulness`'s
{map set: {sample id: {"deletion": (K,), "insertion": (K,), "fractions": (K,), "auc": (2,)}}},
map sets named by variant key ("gradcam/conv_2_2", "saliency/input") or "baseline/<name>".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..attrcells import CellTable

CURVES = ("deletion", "insertion")
BASELINE_TITLES = {"random": "Random map", "centre": "Centre-biased map"}
CHART_POINTS = 101  # points drawn per curve (the AUCs use every step)


def _stats(curves: np.ndarray) -> dict[str, np.ndarray]:
    """(N, K) -> mean, quartiles (K,) over the samples."""
    q25, q50, q75 = np.percentile(curves, [25, 50, 75], axis=0)
    return {"mean": curves.mean(axis=0), "q25": q25, "median": q50, "q75": q75}


def summarize(per_sample: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, Any]:
    """One map set over the sample set.

    Returns {"n", "fractions" (K,), "deletion"/"insertion": {"mean", "q25", "median", "q75"} (K,)
    each, "auc": {"deletion"/"insertion": {"mean", "median", "q25", "q75"}}, "per_sample":
    {sample id: (deletion AUC, insertion AUC)}}.
    """
    ids = sorted(per_sample)
    out: dict[str, Any] = {"n": len(ids), "per_sample": {}, "auc": {}}
    if not ids:
        return out
    out["fractions"] = np.asarray(per_sample[ids[0]]["fractions"], np.float64)
    k = len(out["fractions"])
    aucs = np.empty((len(ids), 2))  # (N, 2)
    stacks = {name: np.empty((len(ids), k)) for name in CURVES}  # (N, K) each
    for i, sid in enumerate(ids):  # each entry read once (a lazy mapping reads the cache)
        entry = per_sample[sid]
        aucs[i] = entry["auc"]
        for name in CURVES:
            stacks[name][i] = entry[name]
    for j, name in enumerate(CURVES):
        out[name] = _stats(stacks[name])
        q25, q50, q75 = np.percentile(aucs[:, j], [25, 50, 75])
        out["auc"][name] = {
            "mean": float(aucs[:, j].mean()),
            "median": float(q50),
            "q25": float(q25),
            "q75": float(q75),
        }
    out["per_sample"] = {i: (float(a[0]), float(a[1])) for i, a in zip(ids, aucs, strict=True)}
    return out


def _beats(mine: dict[str, tuple], ref: dict[str, tuple], j: int, lower: bool) -> float | None:
    """Share of samples where this map's AUC j beats the reference map's on the same sample."""
    common = sorted(set(mine) & set(ref))
    if not common:
        return None
    wins = [(mine[s][j] < ref[s][j]) if lower else (mine[s][j] > ref[s][j]) for s in common]
    return float(np.mean(wins))


def metrics(summary: dict[str, Any], random: dict[str, Any] | None) -> dict[str, Any]:
    """Leaderboard values of one map set: mean AUCs over the sample set, and how often it beats
    the random map on the same sample (a paired comparison, robust to hard samples)."""
    if not summary["n"]:
        return {}
    out: dict[str, Any] = {
        "deletion_auc": summary["auc"]["deletion"]["mean"],
        "insertion_auc": summary["auc"]["insertion"]["mean"],
    }
    if random is not None and random["n"]:
        mine, ref = summary["per_sample"], random["per_sample"]
        out["deletion_beats_random"] = _beats(mine, ref, 0, lower=True)
        out["insertion_beats_random"] = _beats(mine, ref, 1, lower=False)
    return out


def primary_variants(variant_keys: Iterable[str], layer_order: Sequence[str]) -> dict[str, str]:
    """{method: its variant shown on the leaderboard}: the deepest layer (the last in the
    network's stage order; "input" for input-level methods), e.g. Grad-CAM at conv_2_2."""
    rank = {name: i for i, name in enumerate(layer_order)}
    best: dict[str, str] = {}
    for key in variant_keys:
        method, layer = key.split("/", 1)
        if method not in best or rank.get(layer, -1) > rank.get(best[method].split("/", 1)[1], -1):
            best[method] = key
    return best


def add_to_site(
    extra: dict[str, Any],
    results: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    layer_order: Sequence[str],
    settings: dict[str, Any],
) -> None:
    """Put the results into `site.extra`, merging with what other trust checks put there.

    extra["faithfulness"] = {"settings", "sets": {map set: summary}, "primary": {method: key}};
    extra["trust"][method] and extra["trust_baselines"][name] get the `metrics` keys.
    """
    if not results:
        return
    sets = {name: summarize(per) for name, per in sorted(results.items())}
    random = sets.get("baseline/random")
    methods = [k for k in sets if not k.startswith("baseline/")]
    primary = primary_variants(methods, layer_order)
    extra["faithfulness"] = {"settings": dict(settings), "sets": sets, "primary": primary}
    for method, key in primary.items():
        extra.setdefault("trust", {}).setdefault(method, {}).update(metrics(sets[key], random))
    for name in BASELINE_TITLES:
        if f"baseline/{name}" in sets:
            base = metrics(sets[f"baseline/{name}"], None)
            extra.setdefault("trust_baselines", {}).setdefault(name, {}).update(base)


def annotate_cells(cells: CellTable, extra: dict[str, Any], preds: dict[str, int]) -> None:
    """Attach each sample's (deletion, insertion) AUCs to its predicted-class map's cell
    (figures.attribution_figures' `CellTable`)."""
    for key, summary in extra.get("faithfulness", {}).get("sets", {}).items():
        for sid, auc in summary.get("per_sample", {}).items():
            if sid in preds:
                cells.set_faith(sid, key, preds[sid], auc)


def _points(xs: np.ndarray, ys: np.ndarray, x, y) -> str:
    return " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(xs, ys, strict=True))


def curve_chart(
    summary: dict[str, Any],
    curve: str,
    baselines: dict[str, dict[str, Any]],
    width: int = 320,
    height: int = 200,
    pad: int = 34,
) -> dict[str, Any]:
    """SVG geometry of one curve: the mean over samples, its interquartile band, the baselines'
    means; x = fraction of pixels removed / added (0..1), y = probability (0..1).

    Returns {"width", "height", "pad", "band": polygon points, "mean": polyline points,
    "baselines": [{"name", "title", "points"}], "xticks", "yticks"}.
    """
    frac = summary["fractions"]
    idx = _idx(summary, CHART_POINTS)

    def x(v: float) -> float:
        return pad + (width - 1.5 * pad) * v

    def y(v: float) -> float:
        return height - pad - (height - 1.5 * pad) * v

    st = summary[curve]
    f = frac[idx]
    band = _points(f, st["q75"][idx], x, y) + " " + _points(f[::-1], st["q25"][idx][::-1], x, y)
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "band": band,
        "mean": _points(f, st["mean"][idx], x, y),
        "baselines": [
            {
                "name": name,
                "title": BASELINE_TITLES.get(name, name),
                "points": _points(
                    b["fractions"][_idx(b, CHART_POINTS)],
                    b[curve]["mean"][_idx(b, CHART_POINTS)],
                    x,
                    y,
                ),
            }
            for name, b in baselines.items()
            if b.get("n")
        ],
        "xticks": [{"x": round(x(t), 1), "label": f"{t:g}"} for t in (0, 0.25, 0.5, 0.75, 1)],
        "yticks": [{"y": round(y(t), 1), "label": f"{t:g}"} for t in (0, 0.5, 1)],
    }


def _idx(summary: dict[str, Any], n: int) -> np.ndarray:
    k = len(summary["fractions"])
    return np.unique(np.linspace(0, k - 1, min(k, n)).round().astype(int))
