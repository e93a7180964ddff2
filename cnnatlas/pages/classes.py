"""One page per class: its samples, the misclassified ones, what the test set confuses it with."""

from __future__ import annotations

from collections.abc import Iterator

from ..render import Page
from ..site import Site


def pages(site: Site) -> Iterator[Page]:
    conf = site.test["confusion"]
    per_class = []
    for c in site.classes:
        row = conf[c.index]
        total = sum(row)
        per_class.append({"cls": c, "acc": row[c.index] / total if total else 0.0, "n": total})
    yield Page("classes/index.html", "classes.html", {"title": "Classes", "per_class": per_class})
    for c, stats in zip(site.classes, per_class, strict=True):
        mine = [s for s in site.samples if s.label == c.index]
        predicted_as = [
            {
                "cls": other,
                "n": conf[c.index][other.index],
                "samples": [s for s in mine if s.pred == other.index],
            }
            for other in site.classes
        ]
        yield Page(
            site.url_for("class", c.index),
            "class.html",
            {
                "title": f"Class {c.name}",
                "cls": c,
                "stats": stats,
                "mine": mine,
                "wrong": [s for s in mine if s.pred != c.index],
                "claimed": [s for s in site.samples if s.pred == c.index and s.label != c.index],
                "predicted_as": predicted_as,
                "classvis": site.extra.get("units", {}).get("classvis", {}).get(c.index),  # issue 5
            },
        )
