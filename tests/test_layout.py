"""t-SNE maps: features, quality measures against hand-computed cases and references,
determinism, the cache, and the files behind the map pages."""

from __future__ import annotations

import io
import json
import os
import sys
import threading

import jax
import numpy as np
import pytest
from PIL import Image
from sklearn.manifold import trustworthiness as sk_trustworthiness

from cnnatlas import layout, mapfigures
from cnnatlas.cache import Cache
from cnnatlas.compute import ComputeContext
from cnnatlas.config import LayoutConfig
from cnnatlas.errors import ConfigError


def clusters(n_per: int = 40, dims: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight, far-apart Gaussian clusters: (3 n_per, dims) float32 and their labels."""
    rng = np.random.default_rng(seed)
    centres = 20.0 * np.eye(3, dims)
    x = np.concatenate([c + rng.normal(size=(n_per, dims)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(3), n_per)


def naive_trustworthiness(x: np.ndarray, xy: np.ndarray, k: int) -> float:
    """Venna & Kaski's definition, one point at a time (ranks from a full sort)."""
    n = len(x)
    total = 0
    for i in range(n):
        d = np.linalg.norm(x - x[i], axis=1)
        d[i] = np.inf
        rank = np.empty(n, int)
        rank[np.argsort(d, kind="stable")] = np.arange(1, n + 1)
        e = np.linalg.norm(xy - xy[i], axis=1)
        e[i] = np.inf
        total += sum(max(rank[j] - k, 0) for j in np.argsort(e, kind="stable")[:k])
    return 1 - 2 / (n * k * (2 * n - 3 * k - 1)) * total


def test_quality_hand_computed_line():
    # 1-D points 0 1 2 | 10 11 12; point 2 carries the other class's label. With k = 3:
    # points 0, 1, 2 each have 1 of 3 neighbours of their own class, points 10, 11, 12 all 3:
    # agreement (3 * 1/3 + 3) / 6 = 2/3; majority vote wrong for 0, 1 and 2: 1/2.
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    labels = np.array([0, 0, 1, 1, 1, 1])
    q = layout.quality(x, np.hstack([x, np.zeros_like(x)]), labels, k=3)
    assert q["knn_2d"] == pytest.approx(2 / 3) and q["knn_features"] == pytest.approx(2 / 3)
    assert q["vote_2d"] == pytest.approx(0.5) and q["vote_features"] == pytest.approx(0.5)
    assert q["trustworthiness"] == pytest.approx(1.0)  # the layout is the data itself


def test_quality_separated_clusters_agree_fully():
    x, labels = clusters()
    q = layout.quality(x, x[:, :2], labels)
    assert q["knn_features"] == 1.0 and q["knn_2d"] == 1.0 and q["vote_2d"] == 1.0


def test_trustworthiness_matches_sklearn_and_naive():
    rng = np.random.default_rng(1)
    x, xy = rng.normal(size=(61, 5)), rng.normal(size=(61, 2))
    for k in (1, 5, 10):
        got = layout.quality(x, xy, np.zeros(61, int), k=k, chunk=7)["trustworthiness"]
        assert got == pytest.approx(sk_trustworthiness(x, xy, n_neighbors=k), abs=1e-12)
        assert got == pytest.approx(naive_trustworthiness(x, xy, k), abs=1e-12)
    # a scrambled layout is much less trustworthy than a faithful one
    faithful = layout.quality(x, x[:, :2], np.zeros(61, int))["trustworthiness"]
    scrambled = layout.quality(x, rng.permutation(x[:, :2]), np.zeros(61, int))["trustworthiness"]
    assert scrambled < faithful


@pytest.mark.parametrize("library", ["opentsne", "sklearn"])
def test_tsne_deterministic_and_separates_clusters(library):
    x, labels = clusters()
    a = layout.tsne(x, perplexity=10, n_iter=250, seed=3, library=library)
    b = layout.tsne(x, perplexity=10, n_iter=250, seed=3, library=library)
    assert a.shape == (120, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert layout.quality(x, a, labels)["knn_2d"] == 1.0


def test_features_match_net_run(tiny_net):
    xs = np.asarray(jax.random.uniform(jax.random.key(1), (7, 8, 8, 1)))
    feats = layout.features(tiny_net, xs, ("input", "pool", "dense"), memory_mb=0)  # 1 per chunk
    assert [f.shape for f in feats.values()] == [(7, 64), (7, 16), (7, 5)]
    np.testing.assert_array_equal(feats["input"], xs.reshape(7, -1))
    for layer in ("pool", "dense"):
        ref = np.stack([np.asarray(tiny_net.run(x, stop=layer)).reshape(-1) for x in xs])
        np.testing.assert_allclose(feats[layer], ref, rtol=1e-5, atol=1e-6)


def test_check_layers_names_valid_ones(tiny_net):
    with pytest.raises(ConfigError, match=r"unknown layer 'pool_9'; expected one of input, conv_a"):
        layout.check_layers(LayoutConfig(layers=("input", "pool_9")), tiny_net.spec, "t.toml: maps")


def test_run_layouts_caches(tiny_net, tmp_path, monkeypatch):
    x, labels = clusters(20)
    xs = np.resize(x, (60, 8, 8, 1)) / 30.0
    cfg = LayoutConfig(layers=("input", "dense"), perplexity=5.0, n_iter=250)
    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w" * 64, 0, 64)
    first = layout.run_layouts(ctx, xs, labels, "data-sha", cfg)
    assert ctx.counts["tsne"] == [2, 0] and all(m.seconds > 0 for m in first.values())
    assert first["input"].dims == 64 and first["dense"].dims == 5
    # the layouts run side by side in threads: each equals the one computed alone
    feats = layout.features(tiny_net, xs, cfg.layers, 64)
    for layer in cfg.layers:
        alone = layout.tsne(feats[layer], perplexity=5.0, n_iter=250, seed=0)
        np.testing.assert_array_equal(first[layer].xy, alone)
        assert first[layer].quality == layout.quality(feats[layer], alone, labels)

    def boom(*args, **kwargs):
        raise AssertionError("t-SNE ran on a cache hit")

    monkeypatch.setattr(layout, "tsne", boom)
    monkeypatch.setattr(layout, "features", boom)
    again = layout.run_layouts(ctx, xs, labels, "data-sha", cfg)
    assert ctx.counts["tsne"] == [2, 2]
    for layer in cfg.layers:
        np.testing.assert_array_equal(again[layer].xy, first[layer].xy)
        assert again[layer].quality == first[layer].quality and again[layer].seconds == 0.0
    # raw-pixel maps do not depend on the weights; everything else does
    key = layout.layout_key
    assert key("input", cfg, 0, 60, "a", "d") == key("input", cfg, 0, 60, "b", "d")
    assert key("dense", cfg, 0, 60, "a", "d") != key("dense", cfg, 0, 60, "b", "d")
    other = LayoutConfig(layers=cfg.layers, perplexity=5.0, n_iter=300)
    variants = [
        (cfg, 0, 60, "d"),
        (other, 0, 60, "d"),
        (cfg, 1, 60, "d"),
        (cfg, 0, 59, "d"),
        (cfg, 0, 60, "e"),
    ]
    assert len({key("dense", c, seed, n, "a", d) for c, seed, n, d in variants}) == len(variants)


def _layout_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("t-SNE ")]


def test_background_layouts_stop_when_cancelled_and_cache_nothing(tiny_net, tmp_path):
    """A build that fails while its layouts run stops them (within 25 iterations) and caches
    nothing; they run as low-priority daemon threads, so they never hold the build up."""
    x, labels = clusters(20)
    xs = np.resize(x, (60, 8, 8, 1)) / 30.0
    cfg = LayoutConfig(layers=("input", "dense"), perplexity=5.0, n_iter=200_000)  # minutes
    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w" * 64, 0, 64)
    pending = layout.start_layouts(ctx, xs, labels, "data-sha", cfg)
    threads = _layout_threads()
    assert len(threads) == 2 and all(t.daemon for t in threads)
    if sys.platform == "linux":
        assert all(os.getpriority(os.PRIO_PROCESS, t.native_id) == 19 for t in threads)
    pending.cancel()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    with pytest.raises(RuntimeError, match="cancelled"):
        pending.result()
    assert not (tmp_path / "tsne").exists() and "tsne" not in ctx.seconds


def test_a_failed_layout_raises_in_the_building_thread(tiny_net, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise FloatingPointError("t-SNE diverged")

    monkeypatch.setattr(layout, "tsne", boom)
    x, labels = clusters(20)
    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w" * 64, 0, 64)
    cfg = LayoutConfig(layers=("input",), perplexity=5.0, n_iter=250)
    with pytest.raises(FloatingPointError, match="diverged"):
        layout.run_layouts(ctx, np.resize(x, (60, 8, 8, 1)), labels, "d", cfg)
    assert not _layout_threads()


def test_run_layouts_refuses_large_perplexity(tiny_net, tmp_path):
    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w", 0, 64)
    xs = np.zeros((30, 8, 8, 1), np.float32)
    with pytest.raises(ConfigError, match="perplexity 30.0 is too large for 30 points"):
        layout.run_layouts(ctx, xs, np.zeros(30, int), "d", LayoutConfig(layers=("input",)))


def test_grid_cells_snap_to_nearest_centre():
    # 2×2 grid over the unit square; two points compete for the bottom-left cell
    xy = np.array([[0.0, 0.0], [0.2, 0.3], [1.0, 1.0], [0.9, 0.1]])
    cells = mapfigures.grid_cells(xy, 2)
    # rows run top to bottom: top-left empty, top-right point 2; bottom-left the point nearer
    # the cell centre (0.25, 0.25): point 1; bottom-right point 3
    np.testing.assert_array_equal(cells, [[-1, 2], [1, 3]])


def test_normalize_keeps_aspect_and_range():
    xy = np.array([[0.0, 0.0], [4.0, 1.0], [2.0, 0.5]])
    u = mapfigures.normalize(xy)
    assert u.min() >= 0 and u.max() == mapfigures.SCALE
    np.testing.assert_array_equal(u[:, 0], [0, 9999, 5000])  # width sets the scale
    np.testing.assert_array_equal(u[:, 1], [3750, 6249, 5000])  # same scale, centred: 0.5 ± 1/8


def test_sprite_and_pngs_are_deterministic_4bit():
    xs = np.asarray(jax.random.uniform(jax.random.key(2), (5, 4, 3, 1)))
    png = mapfigures.sprite(xs, cols=2)
    assert png == mapfigures.sprite(xs, cols=2)
    im = Image.open(io.BytesIO(png))
    assert im.size == (2 * 3, 3 * 4) and im.mode == "P"
    grey = np.asarray(im.convert("L"), np.float64) / 255
    np.testing.assert_allclose(grey[4:8, 3:6], xs[3, ..., 0], atol=0.5 / 15 + 1e-9)  # 16 levels
    labels, preds = np.array([0, 1, 1]), np.array([0, 1, 0])
    xy = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.2]])
    a = mapfigures.scatter_png(xy, labels, preds, 2)
    assert a == mapfigures.scatter_png(xy, labels, preds, 2)
    rgb = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"))
    colours = {tuple(c) for c in rgb.reshape(-1, 3)}
    assert colours == {(255, 255, 255), mapfigures._rgb("#4e79a7"), mapfigures._rgb("#f28e2b")}


def test_js_data_sets_a_global():
    blob = mapfigures._js("X", {"b": [1, 2], "a": "</script>"}).decode()
    assert blob.startswith("window.X = {") and blob.endswith(";\n")
    assert json.loads(blob[len("window.X = ") : -2]) == {"a": "</script>", "b": [1, 2]}


def test_map_files_and_pages():
    from cnnatlas.pages import maps as map_pages
    from cnnatlas.site import SampleInfo, Site, make_classes

    def site(samples):
        return Site("t", "", make_classes(("a", "b")), [], samples, {}, [], {}, [], 2)

    samples = [SampleInfo(sid, 0, 0, (1.0, 0.0), "", ()) for sid in ("test-00001", "user-x")]
    s = site(samples)
    rng = np.random.default_rng(0)
    xs = rng.uniform(size=(12, 4, 4, 1))
    labels, preds = np.arange(12) % 2, np.zeros(12, int)
    layouts = {
        "input": (rng.normal(size=(12, 2)), {"knn_2d": 0.5}, 16),
        "dense": (rng.normal(size=(12, 2)), {}, 2),
    }
    files = dict(
        mapfigures.map_files(s, layouts, xs, labels, preds, {"grid": 3, "library": "sklearn"})
    )
    assert sorted(files) == [
        "data/maps/dense.js", "data/maps/input.js", "data/maps/points.js",
        "img/maps/dense/grid.png", "img/maps/dense/scatter.png",
        "img/maps/input/grid.png", "img/maps/input/scatter.png", "img/maps/sprite.png",
    ]  # fmt: skip
    points = json.loads(
        files["data/maps/points.js"].decode()[len("window.CNNATLAS_POINTS = ") : -2]
    )
    assert points["samples"] == {"1": "../../samples/test-00001/index.html"}  # from maps/<layer>/
    assert points["labels"] == labels.tolist() and points["n"] == 12
    assert s.extra["maps"]["wrong"] == 6 and s.extra["maps"]["class_counts"] == [6, 6]
    urls = [p.url for p in map_pages.pages(s)]
    assert urls == ["maps/index.html", "maps/input/index.html", "maps/dense/index.html"]
    assert [p.url for p in map_pages.pages(site(samples))] == ["maps/index.html"]  # maps off
