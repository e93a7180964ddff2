"""The methods leaderboard as data: a row per method and per baseline, a column per metric that
any row has, the best method per column, and a reading of the table generated from the numbers.

No JAX here. Metrics come from `site.extra["trust"]` ({method: {key: value}}) and
`site.extra["trust_baselines"]` ({"random" | "centre": {key: value}}); the columns are declared
once (pages/methods.py LEADERBOARD_COLUMNS), so a new metric is one `Column` line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BASELINE_NAMES = {"random": "the random map", "centre": "the centre-biased map"}


@dataclass(frozen=True)
class Column:
    """One metric. better: "lower", "higher" or "" (not ranked, e.g. a flag).
    fmt: "auc" (3 decimals), "pct" (a share, as %), "num" (3 significant digits) or "flag"."""

    key: str
    title: str
    better: str = ""
    fmt: str = "num"
    phrase: str = ""  # in sentences, e.g. "deletion AUC" (default: the title)
    note: str = ""  # tooltip: what the number is
    read: str = "best"  # sentences: "best" (best method, baselines), "majority" (who is < 50 %),
    # "flag" (who is flagged), ""

    @property
    def words(self) -> str:
        return self.phrase or self.title


def fmt(value: Any, how: str) -> str:
    """A cell's text; "—" for a missing value."""
    if value is None:
        return "—"
    if how == "flag" or isinstance(value, bool):
        return "yes" if value else "no"
    if how == "pct":
        return f"{100 * value:.0f} %"
    if how == "auc":
        return f"{value:.3f}"
    return f"{value:.3g}"


def table(
    columns: tuple[Column, ...],
    methods: list[tuple[str, str, str]],
    trust: dict[str, dict[str, Any]],
    baselines: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Leaderboard rows.

    Args:
      methods: [(method name, title, layer scored or "")] in registry order.
    Returns:
      {"columns": [Column] present in some row, "rows": [{"kind": "method" | "baseline", "name",
      "title", "layer", "label", "cells": [{"value", "text", "best"}]}]}; label = the title with
      its layer (used in sentences); best = the best method value of a ranked column (ties within
      the shown precision all marked), baselines never best.
    """
    base_titles = {"random": "Random map (baseline)", "centre": "Centre-biased map (baseline)"}
    data = [("method", n, t, v, trust.get(n, {})) for n, t, v in methods]
    data += [("baseline", n, base_titles.get(n, n), "", baselines[n]) for n in sorted(baselines)]
    shown = [c for c in columns if any(c.key in d[4] for d in data)]
    best = {}
    for c in shown:
        vals = [d[4][c.key] for d in data if d[0] == "method" and d[4].get(c.key) is not None]
        if c.better in ("lower", "higher") and vals:
            top = min(vals) if c.better == "lower" else max(vals)
            best[c.key] = fmt(top, c.fmt)
    rows = []
    for kind, name, title, variant, vals in data:
        cells = []
        for c in shown:
            v = vals.get(c.key)
            text = fmt(v, c.fmt)
            cells.append(
                {"value": v, "text": text, "best": kind == "method" and best.get(c.key) == text}
            )
        label = f"{title} at {variant}" if variant else title
        rows.append(
            {
                "kind": kind,
                "name": name,
                "title": title,
                "layer": variant,
                "label": label,
                "cells": cells,
            }
        )
    return {"columns": shown, "rows": rows}


def _names(titles: list[str]) -> str:
    if len(titles) <= 1:
        return "".join(titles)
    return ", ".join(titles[:-1]) + " and " + titles[-1]


def reading(board: dict[str, Any]) -> list[str]:
    """Sentences read off the table: per ranked column the best method, the methods no better
    than the random map, how many beat the centre-biased map; whether the two faithfulness
    metrics agree on the best method. Nothing is said that the numbers do not show."""
    cols: list[Column] = board["columns"]
    methods = [r for r in board["rows"] if r["kind"] == "method"]
    bases = {r["name"]: r for r in board["rows"] if r["kind"] == "baseline"}
    out, winners = [], {}
    for j, c in enumerate(cols):
        if c.read == "majority":
            vals = [(r["label"], r["cells"][j]["value"]) for r in methods]
            few = [t for t, v in vals if v is not None and v < 0.5]
            if few:  # phrase "beats ..." -> "A beats ..." / "A and B beat ..."
                verb = c.words if len(few) == 1 else c.words.replace("s ", " ", 1)
                out.append(f"{_names(few)} {verb} on fewer than half of the samples.")
            continue
        if c.read == "flag":  # a yes/no column: name the methods it flags (sanity checks)
            yes = [r["label"] for r in methods if r["cells"][j]["value"] is True]
            if yes:
                verb = c.words if len(yes) == 1 else c.words.replace("s ", " ", 1)
                out.append(f"{_names(yes)} {verb}.")
            continue
        if c.better not in ("lower", "higher") or c.read != "best":
            continue
        have = [(r["label"], r["cells"][j]["value"]) for r in methods]
        have = [(t, v) for t, v in have if v is not None]
        if not have:
            continue
        lower = c.better == "lower"
        top = [r["label"] for r in methods if r["cells"][j]["best"]]
        winners[c.key] = top
        value = next(r["cells"][j]["text"] for r in methods if r["cells"][j]["best"])
        word = "lowest" if lower else "highest"
        out.append(
            f"{_names(top)} {'has' if len(top) == 1 else 'share'} the {word} "
            f"{c.words} ({value}; {'lower' if lower else 'higher'} is better)."
        )
        for name, phrase in BASELINE_NAMES.items():
            base = bases.get(name)
            ref = base["cells"][j]["value"] if base else None
            if ref is None:
                continue
            worse = [t for t, v in have if (v >= ref if lower else v <= ref)]
            ref_text = base["cells"][j]["text"]
            if name == "random":
                if worse:
                    verb = "is" if len(worse) == 1 else "are"
                    out.append(
                        f"{_names(worse)} {verb} no better than {phrase} on {c.words} ({ref_text})."
                    )
                else:
                    out.append(f"Every method beats {phrase} on {c.words} ({ref_text}).")
            else:
                n_beat = len(have) - len(worse)
                if n_beat == 0:
                    out.append(f"No method beats {phrase} on {c.words} ({ref_text}).")
                elif worse:
                    out.append(
                        f"{n_beat} of {len(have)} methods beat {phrase} on {c.words} "
                        f"({ref_text}); {_names(worse)} do{'es' if len(worse) == 1 else ''} "
                        "not."
                    )
                else:
                    out.append(f"Every method beats {phrase} on {c.words} ({ref_text}).")
    d, i = winners.get("deletion_auc"), winners.get("insertion_auc")
    if d and i:
        if set(d) & set(i):
            both = _names(sorted(set(d) & set(i)))
            out.append(f"Deletion and insertion agree on the best method: {both}.")
        else:
            out.append(
                f"Deletion and insertion disagree on the best method ({_names(d)} vs "
                f"{_names(i)}): each rewards a different kind of map, so read both."
            )
    return out
