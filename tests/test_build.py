"""End-to-end builds of the tiny config: links, determinism, caching, and crash safety."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cnnatlas import pipeline
from cnnatlas.config import load_config
from cnnatlas.errors import ConfigError, OutputError
from cnnatlas.pipeline import build
from tests.conftest import TINY_CONFIG
from tests.sitecheck import broken_links, tree_bytes

pytestmark = pytest.mark.slow


def test_every_page_type_and_link(tiny_build):
    site, _, report = tiny_build
    for page in (
        "index.html",
        "404.html",
        "samples/index.html",
        "layers/index.html",
        "classes/index.html",
        "samples/test-00000/index.html",
        "layers/conv_1_1/index.html",
        "classes/t-shirt-top/index.html",
        "methods/index.html",
        "methods/occlusion/index.html",
        "misclassified/index.html",
    ):
        assert (site / page).is_file(), page
    assert (site / ".nojekyll").is_file()
    assert broken_links(site) == []
    assert report.pages == len(list(site.rglob("*.html")))
    assert report.images == len(list(site.rglob("*.png")))


def test_lychee_offline_finds_no_broken_link(tiny_build):
    lychee = shutil.which("lychee") or str(
        Path(__file__).resolve().parent.parent / ".venv/bin/lychee"
    )
    if not Path(lychee).exists():
        pytest.skip("lychee not installed")
    r = subprocess.run(
        [
            lychee,
            "--offline",
            "--no-progress",
            "--include-fragments",
            "--index-files",
            "",
            str(tiny_build[0]),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_pages_show_class_names_and_values(tiny_build):
    site, _, _report = tiny_build
    home = (site / "index.html").read_text()
    assert "Ankle boot" in home and "conv_2_2" in home and "4440" in home
    sample = (site / "samples/test-00000/index.html").read_text()
    assert "Grad-CAM" in sample and 'data-scope="map"' in sample
    for method in ("saliency", "smoothgrad", "integrated_gradients", "occlusion", "gradcampp"):
        assert f"methods/{method}/index.html" in sample
    n_focus = 1 if "predicted = true:" in sample else 2
    # the all-classes grid (10 classes) plus the focus classes, each in 3 normalization scopes
    assert sample.count("img/samples/test-00000/gradcam/conv_2_2/") == 3 * (10 + n_focus)
    ig = (site / "methods/integrated_gradients/index.html").read_text()
    assert "Completeness in this atlas" in ig and "steps" in ig


def test_rebuild_computes_nothing_and_is_byte_identical(tiny_build, tmp_path):
    site, cache, _ = tiny_build
    report = build(load_config(TINY_CONFIG), tmp_path / "again", cache)
    assert report.computed == 0 and report.weights == "cache"
    assert tree_bytes(tmp_path / "again") == tree_bytes(site)
    assert report.warnings == []  # tests/samples is absent: the usual place, nothing to say


def test_a_samples_dir_that_is_not_there_warns(tiny_build, tmp_path):
    _, cache, _ = tiny_build
    typo = tmp_path / "my-imgaes"
    report = build(load_config(TINY_CONFIG, {"samples": {"dir": str(typo)}}), tmp_path / "s", cache)
    assert report.warnings == [f"samples.dir: folder {typo} not found; no images of your own added"]
    assert report.computed == 0


def test_changed_hyperparameter_recomputes_only_that_method(tiny_build, tmp_path):
    _, cache, _ = tiny_build
    cfg = load_config(TINY_CONFIG, {"probes": {"gradcam": {"layers": ["conv_1_1"]}}})
    report = build(cfg, tmp_path / "s", cache)
    # 10 samples × gradcam at the new layer, and their deletion / insertion curves (issue 12);
    # its sanity checks at the new deepest layer, per sample: 5 randomization levels, shuffled
    # labels and the similarity of its maps with their randomized maps (issue 10); pointing
    assert report.computed == 20 + 10 * (5 + 1 + 1) + 1


def test_added_sample_computes_only_that_samples_artifacts(tiny_build, tmp_path):
    """Issue 10: one new image in the samples folder adds only its own cache entries."""
    from PIL import Image

    _, cache, _ = tiny_build
    shutil.copytree(cache, tmp_path / "cache")
    before = {p.relative_to(tmp_path / "cache") for p in (tmp_path / "cache").rglob("*.json")}
    (tmp_path / "samples").mkdir()
    yy, xx = np.mgrid[:28, :28]
    Image.fromarray(((xx * 9 + yy * 3) % 256).astype(np.uint8)).save(tmp_path / "samples/new.png")
    cfg = load_config(TINY_CONFIG, {"samples": {"dir": str(tmp_path / "samples")}})
    report = build(cfg, tmp_path / "s", tmp_path / "cache")
    assert report.computed > 0
    added = [
        p for p in (tmp_path / "cache").rglob("*.json")
        if p.relative_to(tmp_path / "cache") not in before and p.name != "profile.json"
    ]  # fmt: skip
    owners = {p.relative_to(tmp_path / "cache"): json.loads(p.read_text()) for p in added}
    mine = [k for k, m in owners.items() if m.get("sample") == "user-new"]
    # every entry is the new sample's own, the sanity checks' randomized maps and their
    # similarity numbers included (cached per sample too): no other sample is recomputed
    others = sorted(str(k) for k in owners if k not in mine)
    assert not others, others
    assert {k.parts[0] for k in mine} >= {"activations", "gradcam", "occlusion", "faithfulness"}
    checks = {m.get("check") for k, m in owners.items() if k.parts[0] == "sanity"}
    assert checks == {"model", "data", "similarity"}
    assert len(added) == report.computed


def test_failed_build_leaves_previous_site_intact(tiny_build, tmp_path, monkeypatch):
    site, cache, _ = tiny_build
    out = tmp_path / "site"
    shutil.copytree(site, out)
    before = tree_bytes(out)

    def boom(*a, **k):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(pipeline, "render", boom)
    with pytest.raises(RuntimeError):
        build(load_config(TINY_CONFIG), out, cache)
    assert tree_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temporary folders left


def test_bad_layer_is_refused_before_any_work(tmp_path):
    cfg = load_config(TINY_CONFIG, {"probes": {"gradcam": {"layers": ["conv_9"]}}})
    with pytest.raises(
        ConfigError,
        match=r"probes\.gradcam\.layers: unknown layer 'conv_9'; expected one of conv_1_1, relu_1_1",
    ):
        build(cfg, tmp_path / "s", tmp_path / "c")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("where", ["file", "content", "cwd"])
def test_dangerous_output_folders_are_refused(tmp_path, where, monkeypatch):
    cfg = load_config(TINY_CONFIG)
    if where == "file":
        out = tmp_path / "f.txt"
        out.write_text("x")
    elif where == "content":
        out = TINY_CONFIG.parent / "site"
    else:
        monkeypatch.chdir(tmp_path)
        out = tmp_path
    with pytest.raises(OutputError, match="--out"):
        build(cfg, out, tmp_path / "c")
