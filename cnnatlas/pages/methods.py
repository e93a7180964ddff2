"""Attribution methods: an index, one page per method (prose, hyperparameters, gallery) and the
misclassification gallery (issue 4). No JAX here: maps and ranges come from `site.extra`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

from ..content import Prose, render_markdown  # the one Markdown renderer of the site
from ..figures import SCOPES
from ..render import Page
from ..site import MethodInfo, Site, Variant, img_path


def method_info(spec: Any, hparams: dict[str, Any], prose: Prose | None) -> MethodInfo:
    """A registry entry (ProbeSpec) and its resolved hparams as plain values, with its prose
    (content/pages/methods/<name>.md, see content.load_prose)."""
    return MethodInfo(
        name=spec.name,
        title=spec.title,
        signed=spec.signed,
        paper=spec.paper,
        version=spec.version,
        hparams=tuple(sorted((k, _plain(v)) for k, v in hparams.items())),
        classes=hparams.get("classes", "pred_true"),
        diagnostic_names=tuple(spec.diagnostic_names),
        prose=prose.text if prose else "",
    )


def _plain(v: Any) -> Any:
    return ", ".join(map(str, v)) if isinstance(v, list | tuple) else v


def grid(site: Site, sample_id: str, classes: list[int]) -> list[dict[str, Any]]:
    """Rows of a method × class grid: [{"variant", "cells": [cell or None, one per class]}]."""
    cells = site.extra.get("attribution", {}).get(sample_id, {})
    return [
        {"variant": v, "cells": [cells[v.key].get(c) for c in classes]}
        for v in site.extra.get("variants", [])
    ]


def _completeness(site: Site, variants: list[Variant]) -> list[dict[str, Any]]:
    """Per variant with an "error" diagnostic: how far sum(map) is from f(x) - f(x')."""
    out = []
    for v in variants:
        if "error" not in v.method.diagnostic_names:
            continue
        errors = sorted(
            cell["diag"]["error"]
            for per_variant in site.extra["attribution"].values()
            for cell in per_variant[v.key].values()
        )
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
        },
    )
    known = site.extra.get("page_urls")
    for m in methods:
        url = site.url_for("method", m.name)
        mine = [v for v in variants if v.method.name == m.name]
        gallery = [
            {
                "s": s,
                "input": img_path("samples", s.id, "input"),
                "maps": [(v, site.extra["attribution"][s.id][v.key].get(s.pred)) for v in mine],
            }
            for s in site.samples
        ]
        yield Page(
            url,
            "method.html",
            {
                "title": m.title,
                "method": m,
                "prose": render_markdown(m.prose, url, known) if m.prose else "",
                "variants": mine,
                "gallery": gallery,
                "completeness": _completeness(site, mine),
                "scopes": scopes,
            },
        )
    wrong = [
        {
            "s": s,
            "input": img_path("samples", s.id, "input"),
            "rows": grid(site, s.id, [s.pred, s.label]),
        }
        for s in site.samples
        if s.correct is False and s.label is not None
    ]
    yield Page(
        site.url_for("misclassified"),
        "misclassified.html",
        {"title": "Misclassified samples", "wrong": wrong, "scopes": scopes},
    )
