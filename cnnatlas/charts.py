"""Numbers -> geometry for small inline SVG charts (the template draws them)."""

from __future__ import annotations

from collections.abc import Sequence


def line_chart(
    series: dict[str, Sequence[float]], width: int = 420, height: int = 220, pad: int = 36
) -> dict:
    """Polyline points for each series on shared axes, with y ticks; x is the epoch (1..n)."""
    values = [v for s in series.values() for v in s]
    n = max((len(s) for s in series.values()), default=0)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    span = hi - lo
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(1, n - 1))

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)

    lines = [
        {
            "name": name,
            "points": " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(vals)),
            "last": (round(x(len(vals) - 1), 1), round(y(vals[-1]), 1), vals[-1])
            if len(vals)
            else None,
        }
        for name, vals in series.items()
    ]
    ticks = [
        {"y": round(y(lo + (hi - lo) * t), 1), "label": f"{lo + (hi - lo) * t:.3g}"}
        for t in (0.1, 0.5, 0.9)
    ]
    xticks = [{"x": round(x(i), 1), "label": str(i + 1)} for i in range(n)]
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "lines": lines,
        "yticks": ticks,
        "xticks": xticks,
    }
