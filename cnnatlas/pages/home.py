"""Home / model card: architecture, accuracy, confusion matrix, training curves, provenance."""

from __future__ import annotations

from collections.abc import Iterator

from ..charts import line_chart
from ..render import Page
from ..site import Site


def pages(site: Site) -> Iterator[Page]:
    conf = site.test["confusion"]
    cmax = max(max(row) for row in conf) or 1
    rows = []
    for i, row in enumerate(conf):
        total = sum(row) or 1
        cells = []
        for j, n in enumerate(row):
            cells.append(
                {
                    "n": n,
                    "share": n / total,
                    # background alpha (at most .75, so the count stays readable); computed
                    # here because the HTML validator's CSS checker rejects calc(var(...))
                    "shade": round(0.75 * (0.08 + 0.92 * (n / cmax) ** 0.5), 3) if n else 0,
                    "diag": i == j,
                    "url": site.url_for("class", i) + f"#as-{site.classes[j].slug}",
                }
            )
        rows.append({"cls": site.classes[i], "cells": cells, "url": site.url_for("class", i)})
    h = site.history
    yield Page(
        "index.html",
        "home.html",
        {
            "title": "Model card",
            "layers": site.layers,
            "confusion": rows,
            "acc_chart": line_chart(
                {"train": [e["train_acc"] for e in h], "test": [e["test_acc"] for e in h]}
            ),
            "loss_chart": line_chart({"loss": [e["loss"] for e in h]}),
        },
    )
    yield Page("404.html", "404.html", {"title": "Page not found"})
