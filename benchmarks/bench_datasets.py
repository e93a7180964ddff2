"""Image-folder loading speed (issue 13): N generated images of mixed sizes and formats
(PNG, JPEG, RGBA PNG, GIF; 56–96 px) decoded, converted and resized to 64×64×3.

Usage: python benchmarks/bench_datasets.py [--n 3000]. Writes benchmarks/results/datasets.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, best_of, emit, peak_rss_mb

sys.path.insert(0, str(ROOT / "tests"))

from datasetgen import SHAPE_CLASSES, shapes_folder

from cnnatlas.config import DatasetConfig
from cnnatlas.data import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="images in all (split over 3 classes)")
    args = ap.parse_args()
    per_class = args.n // len(SHAPE_CLASSES)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        root = shapes_folder(Path(tmp) / "shapes", per_class=per_class, bad=False)
        generate = time.perf_counter() - t
        cfg = DatasetConfig(kind="folder", path=root, size=64)
        seconds = best_of(lambda: load_dataset(cfg), repeat=3)
        d = load_dataset(cfg)
    n = len(d.train_x) + len(d.test_x)
    emit(
        "datasets",
        {
            "images": n,
            "input_shape": list(d.input_shape),
            "load_seconds": round(seconds, 3),
            "images_per_second": round(n / seconds),
            "generate_seconds": round(generate, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
    )


if __name__ == "__main__":
    main()
