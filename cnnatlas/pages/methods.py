"""Attribution methods: an index, one page per method (prose, hyperparameters, gallery) and the
misclassification gallery (issue 4). No JAX here: maps and ranges come from `site.extra`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

from ..attrcells import SCOPES
from ..content import render_markdown  # the one Markdown renderer of the site
from ..render import Page
from ..site import MethodInfo, Site, Variant, img_path
from ..trust import curves, leaderboard
from ..trust.leaderboard import Column

# The leaderboard's metrics (issue 12), one line each; a column shows when any row has its key in
# site.extra["trust"] / ["trust_baselines"]. better: "lower", "higher" or "" (not ranked).
LEADERBOARD_COLUMNS: tuple[Column, ...] = (
    Column("deletion_auc", "Deletion AUC", "lower", "auc", "deletion AUC",
           "area under the class probability as the most important pixels are removed"),
    Column("deletion_beats_random", "beats random (deletion)", "higher", "pct",
           "beats the random map on deletion",
           "share of samples whose deletion AUC is below the random map's on the same sample",
           read="majority"),
    Column("insertion_auc", "Insertion AUC", "higher", "auc", "insertion AUC",
           "area under the class probability as the most important pixels are added to a blur"),
    Column("insertion_beats_random", "beats random (insertion)", "higher", "pct",
           "beats the random map on insertion",
           "share of samples whose insertion AUC is above the random map's on the same sample",
           read="majority"),
    # sanity checks (trust/sanity_site.py): similarity to the trained model's maps, lower = passes
    Column("model_rand_spearman", "Rank corr., all layers random", "lower", "auc",
           "rank correlation with every layer re-initialized",
           "Spearman correlation of |map| on the trained vs the fully re-initialized model"),
    Column("model_rand_ssim", "SSIM, all layers random", "lower", "auc",
           "SSIM with every layer re-initialized",
           "structural similarity of the maps on the trained vs the fully re-initialized model"),
    Column("data_rand_spearman", "Rank corr., shuffled labels", "lower", "auc",
           "rank correlation with the shuffled-label model",
           "Spearman correlation of |map| on the trained vs a model trained on shuffled labels"),
    Column("data_rand_ssim", "SSIM, shuffled labels", "lower", "auc",
           "SSIM with the shuffled-label model",
           "structural similarity of the maps on the trained vs a shuffled-label model"),
    Column("pointing", "Pointing game", "higher", "pct", "pointing-game score",
           "share of synthetic images whose map maximum falls in the object's box"),
    Column("flag_model_independent", "Fails randomization", "", "flag",
           "fails the model-randomization check",
           "maps barely change when every layer is re-initialized (Spearman above the threshold)",
           read="flag"),
)  # fmt: skip


def method_info(spec: Any, hparams: dict[str, Any]) -> MethodInfo:
    """A registry entry (ProbeSpec) and its resolved hparams as plain values. Its prose
    (content/pages/methods/<name>.md) is site.extra["method_prose"][name]: read by every build,
    not kept in the site model (issue 10)."""
    return MethodInfo(
        name=spec.name,
        title=spec.title,
        signed=spec.signed,
        paper=spec.paper,
        version=spec.version,
        hparams=tuple(sorted((k, _plain(v)) for k, v in hparams.items())),
        classes=hparams.get("classes", "pred_true"),
        diagnostic_names=tuple(spec.diagnostic_names),
    )


def _plain(v: Any) -> Any:
    return ", ".join(map(str, v)) if isinstance(v, list | tuple) else v


def grid(site: Site, sample_id: str, classes: list[int]) -> list[dict[str, Any]]:
    """Rows of a method × class grid: [{"variant", "cells": [cell or None, one per class]}]."""
    cells = site.extra.get("attribution", {}).get(sample_id, {})
    rows = []
    for v in site.extra.get("variants", []):
        by_class = cells[v.key]  # made when read (attrcells.CellTable): once per variant
        rows.append({"variant": v, "cells": [by_class.get(c) for c in classes]})
    return rows


def _completeness(site: Site, variants: list[Variant]) -> list[dict[str, Any]]:
    """Per variant with an "error" diagnostic: how far sum(map) is from f(x) - f(x')."""
    out = []
    for v in variants:
        if "error" not in v.method.diagnostic_names:
            continue
        errors = sorted(site.extra["attribution"].diagnostic(v.key, "error").tolist())
        if errors:
            out.append(
                {
                    "variant": v,
                    "n": len(errors),
                    "median": statistics.median(errors),
                    "max": errors[-1],
                    "within_1pct": sum(e <= 0.01 for e in errors),
                }
            )
    return out


def board(site: Site) -> dict[str, Any]:
    """The leaderboard (trust.leaderboard.table) and its reading, from site.extra."""
    methods: list[MethodInfo] = site.extra.get("methods", [])
    primary = site.extra.get("faithfulness", {}).get("primary", {})
    layers = {m: key.split("/", 1)[1] for m, key in primary.items()}
    rows = [(m.name, m.title, layers.get(m.name, "").replace("input", "")) for m in methods]
    out = leaderboard.table(
        LEADERBOARD_COLUMNS,
        rows,
        site.extra.get("trust", {}),
        site.extra.get("trust_baselines", {}),
    )
    for row in out["rows"]:  # link to the curves where the method has them
        row["anchor"] = "#faithfulness" if row["name"] in primary else ""
    return {**out, "reading": leaderboard.reading(out)}


def faithfulness(site: Site, variants: list[Variant]) -> list[dict[str, Any]]:
    """Per variant with deletion / insertion results: AUC summaries and the two charts."""
    faith = site.extra.get("faithfulness", {})
    sets = faith.get("sets", {})
    bases = {n: sets[f"baseline/{n}"] for n in curves.BASELINE_TITLES if f"baseline/{n}" in sets}
    out = []
    for v in variants:
        mine = sets.get(v.key)
        if not mine or not mine["n"]:
            continue
        out.append(
            {
                "variant": v,
                "n": mine["n"],
                "auc": mine["auc"],
                "charts": {c: curves.curve_chart(mine, c, bases) for c in curves.CURVES},
                "baselines": [
                    (curves.BASELINE_TITLES[n], b["auc"]) for n, b in bases.items() if b["n"]
                ],
            }
        )
    return out


def pages(site: Site) -> Iterator[Page]:
    methods: list[MethodInfo] = site.extra.get("methods", [])
    variants: list[Variant] = site.extra.get("variants", [])
    scopes = list(SCOPES.items())
    first = site.samples[0] if site.samples else None
    yield Page(
        site.url_for("methods"),
        "methods.html",
        {
            "title": "Attribution methods",
            "methods": methods,
            "variants": variants,
            "first": first,
            "thumbs": grid(site, first.id, [first.pred]) if first else [],
            "n_wrong": sum(s.correct is False for s in site.samples),
            "board": board(site),
            "faith_settings": site.extra.get("faithfulness", {}).get("settings", {}),
        },
    )
    known = site.extra.get("page_urls")
    prose: dict[str, str] = site.extra.get("method_prose", {})  # Markdown, by method name
    for m in methods:
        url = site.url_for("method", m.name)
        mine = [v for v in variants if v.method.name == m.name]
        gallery = [
            {
                "s": s,
                "input": img_path("samples", s.id, "input"),
                "maps": [(v, site.extra["attribution"][s.id][v.key].get(s.pred)) for v in mine],
            }
            for s in site.gallery()
        ]
        yield Page(
            url,
            "method.html",
            {
                "title": m.title,
                "method": m,
                "prose": render_markdown(prose[m.name], url, known) if prose.get(m.name) else "",
                "variants": mine,
                "gallery": gallery,
                "total": len(site.samples),
                "completeness": _completeness(site, mine),
                "faithfulness": faithfulness(site, mine),
                "sanity": site.extra.get("sanity", {}),
                "faith_settings": site.extra.get("faithfulness", {}).get("settings", {}),
                "scopes": scopes,
            },
        )
    all_wrong = [s for s in site.samples if s.correct is False and s.label is not None]
    wrong = [
        {
            "s": s,
            "input": img_path("samples", s.id, "input"),
            "rows": grid(site, s.id, [s.pred, s.label]),
        }
        for s in site.gallery(all_wrong)
    ]
    yield Page(
        site.url_for("misclassified"),
        "misclassified.html",
        {
            "title": "Misclassified samples",
            "wrong": wrong,
            "total": len(all_wrong),
            "scopes": scopes,
        },
    )
