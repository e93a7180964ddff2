"""The site adapts to the dataset (issue 13): a 3-class RGB 64×64 image folder (with bad files)
and a 12-class grayscale 20×20 .npz, each built end to end with a tiny config.

Checks what a reader sees: the pages exist, the class count and names, colour thumbnails stay
RGB PNGs, skipped files are reported, the recipe is on the model card and the sample pages, and
pages that cannot show a configuration (the playground on colour inputs) say so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from datasetgen import BAD_FILES, SHAPE_CLASSES, gray_npz, shapes_folder
from PIL import Image

from cnnatlas.config import load_config
from cnnatlas.pipeline import build

ROOT = Path(__file__).resolve().parent.parent
FAST = {  # one short training run, two cheap methods, no feature visualization or trust metrics
    "train": {"epochs": 1, "batch_size": 16, "learning_rate": 0.01},
    "samples": {"per_class": 1},
    "probes": {"gradcam": {"layers": ["conv_2_2"]}, "saliency": {}},
    "maps": {"layers": ["input", "dense"], "n_iter": 250, "grid": 8, "perplexity": 3.0},
    "featurevis": {"enabled": False},
    "trust": {
        "enabled": False,
        "model_randomization": False,
        "data_randomization": False,
        "pointing": False,
    },
}


def _build(base: Path, dataset: dict, title: str):
    cfg = load_config(
        None,
        {
            **FAST,
            "dataset": dataset,
            "samples": {**FAST["samples"], "dir": str(base / "samples")},
            "site": {"title": title},
        },
    )
    report = build(cfg, base / "site", base / "cache")
    return base / "site", report


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    base = tmp_path_factory.mktemp("rgb")
    shapes_folder(base / "shapes", per_class=20)
    (base / "samples").mkdir()
    photo = np.zeros((48, 96, 3), np.uint8)
    photo[:, :, 1] = 200  # a wide green user image: cropped like the dataset
    Image.fromarray(photo).save(base / "samples" / "wide.png")
    dataset = {"kind": "folder", "path": str(base / "shapes"), "split": 0.3}
    return _build(base, dataset, "shapes atlas")


@pytest.fixture(scope="module")
def gray(tmp_path_factory):
    base = tmp_path_factory.mktemp("gray")
    dataset = {"kind": "npz", "path": str(gray_npz(base / "bars.npz"))}
    return _build(base, dataset, "bars atlas")


def _mode(path: Path) -> str:
    with Image.open(path) as im:
        return im.mode


def _text(site: Path, rel: str) -> str:
    return (site / rel).read_text(encoding="utf-8")


def _sample_ids(site: Path) -> list[str]:
    return sorted(p.name for p in (site / "samples").iterdir() if p.is_dir())


def test_rgb_folder_build(rgb):
    site, report = rgb
    # bad files were skipped with one warning each, and the build page lists them
    for bad in BAD_FILES:
        assert sum(f"shapes/{bad}: skipped" in w for w in report.warnings) == 1
        assert f"shapes/{bad}" in _text(site, "build/index.html")
    home = _text(site, "index.html")
    assert "Input 64×64×3" in home and "3 classes" in home
    assert "centre 64×64 cropped" in home  # the recipe on the model card
    classes = _text(site, "classes/index.html")
    for name in SHAPE_CLASSES:
        assert f">{name}<" in classes
    assert len(re.findall(r'<tr><th scope="row"', _text(site, "index.html"))) >= 3
    ids = _sample_ids(site)
    assert len([i for i in ids if i.startswith("test-")]) == 3  # one per class
    for sid in ids:  # colour stays colour: inputs, overlays
        with Image.open(site / "img" / "samples" / sid / "input.png") as im:
            assert im.mode == "RGB" and im.size == (64, 64)
    with Image.open(site / "img" / "samples" / ids[0] / "input.png") as im:
        centre = np.asarray(im)[32, 32]
    assert len(set(centre.tolist())) > 1  # a coloured shape in the centre, not gray
    with Image.open(site / "img" / "maps" / "sprite.png") as im:
        assert im.mode == "RGB"
    test_pngs = sorted((site / "img" / "test").glob("*.png"))
    assert test_pngs and all(_mode(p) == "RGB" for p in test_pngs)
    # a dataset image's page names its file and the conversion; the user image used the recipe
    first = _text(site, f"samples/{ids[0]}/index.html")
    assert re.search(r"test set #\d+ \((bar|disc|square)/\1_\d{3}\.(png|jpg|gif)\)", first)
    assert "centre 64×64 cropped" in first
    user = _text(site, "samples/user-wide/index.html")
    assert "read PNG 96×48 RGB" in user and "centre 64×64 cropped" in user
    assert "inverted" not in user
    with Image.open(site / "img" / "samples" / "user-wide" / "input.png") as im:
        user_x = np.asarray(im)
    assert (user_x == (0, 200, 0)).all()  # cropped, not padded with black
    # the explainer computes RGB inputs; the playground (grayscale drawing) refuses, visibly
    assert (site / "data" / "explain" / "model.js").is_file()
    play = _text(site, "playground/index.html")
    assert "draws and converts grayscale images" in play and "64×64 colour" in play
    assert not (site / "data" / "playground").exists()


def test_gray_12_class_build(gray):
    site, report = gray
    assert not report.warnings
    home = _text(site, "index.html")
    assert "Input 20×20×1" in home and "12 classes" in home
    confusion = home[home.index('class="confusion"') :]
    confusion = confusion[: confusion.index("</table>")]
    assert confusion.count('<th scope="row"') == 12
    classes = _text(site, "classes/index.html")
    assert all(f">c{c:02d}<" in classes for c in range(12))
    assert len([i for i in _sample_ids(site) if i.startswith("test-")]) == 12
    with Image.open(site / "img" / "samples" / "test-00000" / "input.png") as im:
        assert im.mode == "L" and im.size == (20, 20)
    # the playground runs this model: its data, a canvas of the model's size
    assert (site / "data" / "playground" / "model.js").is_file()
    assert 'id="pg-canvas" width="20" height="20"' in _text(site, "playground/index.html")
    # 12 classes, 12 distinct colours on the maps
    points = _text(site, "data/maps/points.js")
    data = json.loads(points[points.index("{") : points.rindex("}") + 1])
    assert len({c["colour"] for c in data["classes"]}) == 12


def test_no_template_assumes_fashion_mnist():
    """No template or script hard-codes 28×28 inputs (784 pixels) or Fashion-MNIST's classes."""
    files = [*ROOT.glob("templates/*.html"), *ROOT.glob("templates/static/*.js")]
    bad = re.compile(r"\b(28|784)\b|T-shirt|Ankle boot|fashion", re.IGNORECASE)
    hits = [
        f"{f.name}:{n}: {line.strip()[:80]}"
        for f in files
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
        if bad.search(line)
    ]
    assert not hits, hits
