"""Playground benchmark (issue 11): time per full update in headless Chromium (target <= 20 ms).

A full update runs the network in the page, Grad-CAM at the chosen conv layer, the nearest
fixed sample and redraws every canvas. Measured in the page (performance.now) while drawing
strokes with the mouse, then over 100 back-to-back updates; also the data files' size.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_playground.py [--site SITE] [--cache DIR]

Without --site it builds tests/tiny.toml into a temporary folder first (weights cached in
--cache, default a temporary folder). Prints JSON and writes benchmarks/results/playground.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from common import ROOT, emit

sys.path.insert(0, str(ROOT))


def _summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values), 2),
        "p90_ms": round(values[int(0.9 * (len(values) - 1))], 2),
        "max_ms": round(values[-1], 2),
        "n": len(values),
    }


def measure(site: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((site / "playground" / "index.html").as_uri())
        page.wait_for_selector("#pg[data-ready='1']")
        box = page.locator("#pg-canvas").bounding_box()
        page.mouse.move(box["x"] + 60, box["y"] + 40)
        page.mouse.down()
        for k in range(60):
            page.mouse.move(box["x"] + 60 + 3 * k, box["y"] + 40 + 3 * (k % 20))
        page.mouse.up()
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        strokes = page.evaluate("() => CnnPlayground.page.timings.slice(1)")
        steady = page.evaluate(
            "() => { const pg = CnnPlayground.page; for (let i = 0; i < 100; i++) pg.update();"
            " return pg.timings.slice(-100); }"
        )
        version = browser.version
        browser.close()
    parts = {
        k: round(statistics.median(t[k] for t in steady), 2) for k in ("forward", "gradcam", "draw")
    }
    data = site / "data" / "playground"
    return {
        "browser": f"chromium {version}",
        "while_drawing": _summary([t["total"] for t in strokes]),
        "back_to_back": _summary([t["total"] for t in steady]),
        "parts_median_ms": parts,
        "target_ms": 20,
        "data_bytes": {f.name: f.stat().st_size for f in sorted(data.glob("*.js"))},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", type=Path, help="a built site (default: build tests/tiny.toml)")
    ap.add_argument("--cache", type=Path, help="cache folder for the tiny build")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-playground-") as tmp:
        site = args.site
        if site is None:
            from cnnatlas.config import load_config
            from cnnatlas.pipeline import build

            site = Path(tmp) / "site"
            build(
                load_config(ROOT / "tests" / "tiny.toml"), site, args.cache or Path(tmp) / "cache"
            )
        emit("playground", measure(site.resolve()))


if __name__ == "__main__":
    main()
