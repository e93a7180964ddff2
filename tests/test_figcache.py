"""Figure cache (issue 10): PNGs memoized by their pixels; a template edit re-encodes nothing.

The rebuild test reuses the session's tiny build (its compute and figure caches): a rebuild with
an edited template must render pages only (no probe, no training, no PNG encoding) and give the
same bytes as a build that encodes every figure afresh.
"""

from __future__ import annotations

import io
import shutil
import sqlite3

import numpy as np
from PIL import Image

from cnnatlas import figcache, images
from cnnatlas.config import load_config


def _pixels(seed: int, shape=(6, 5, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_hits_return_the_same_bytes_and_count(tmp_path):
    x = _pixels(0)
    plain = images.png(x)  # no active cache: encoded directly
    with figcache.use(tmp_path) as fc:
        assert images.png(x) == plain
        assert images.png(x) == plain  # same pixels again in one build: no second encode
        assert (fc.encoded, fc.hits) == (1, 1)
    with figcache.use(tmp_path) as fc:
        assert images.png(x) == plain
        images.png(_pixels(1))
        assert (fc.encoded, fc.hits) == (1, 1)
    decoded = np.asarray(Image.open(io.BytesIO(plain)))
    np.testing.assert_array_equal(decoded, x)


def test_key_changes_with_every_input():
    x = _pixels(0, (4, 4))
    k = figcache.key("png", x)
    assert figcache.key("png", x.copy()) == k  # content, not identity
    y = x.copy()
    y[3, 3] ^= 1
    others = [
        figcache.key("png", y),  # one pixel
        figcache.key("png", x.reshape(2, 8)),  # shape
        figcache.key("png", x.astype(np.uint16)),  # dtype
        figcache.key("png", x, "bits=4"),  # encoder options
        figcache.key("optimized", x),  # encoder
    ]
    assert len({k, *others}) == 6


def test_corrupt_entry_warns_and_is_reencoded(tmp_path):
    x = _pixels(2)
    with figcache.use(tmp_path):
        good = images.png(x)
    db = sqlite3.connect(tmp_path / figcache.FILE)
    with db:
        db.execute("UPDATE figures SET png = ?", (b"\x89PNG\r\n\x1a\n broken",))
    db.close()
    warnings: list[str] = []
    with figcache.use(tmp_path, warnings.append) as fc:
        assert images.png(x) == good
        assert (fc.encoded, fc.hits) == (1, 0)
    assert len(warnings) == 1 and "corrupt; re-encoding" in warnings[0]
    with figcache.use(tmp_path, warnings.append) as fc:  # repaired
        assert images.png(x) == good
        assert (fc.encoded, fc.hits, len(warnings)) == (0, 1, 1)


def test_unreadable_database_warns_and_starts_anew(tmp_path):
    (tmp_path / figcache.FILE).write_bytes(b"this is not an SQLite database" * 100)
    warnings: list[str] = []
    with figcache.use(tmp_path, warnings.append) as fc:
        assert images.png(_pixels(3)) == images.png(_pixels(3))
        assert fc.encoded == 1
    assert len(warnings) == 1 and "unreadable" in warnings[0]
    with figcache.use(tmp_path, warnings.append) as fc:
        images.png(_pixels(3))
        assert fc.hits == 1


def test_entries_unused_by_recent_builds_are_dropped(tmp_path):
    with figcache.use(tmp_path):
        images.png(_pixels(4))
    for _ in range(figcache.KEEP_BUILDS):
        with figcache.use(tmp_path):
            images.png(_pixels(5))
    with figcache.use(tmp_path) as fc:
        images.png(_pixels(4))
        images.png(_pixels(5))
        assert (fc.encoded, fc.hits) == (1, 1)
    assert figcache._active.get() is None  # no cache outside a build


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_template_edit_rerenders_pages_only(tiny_build, tmp_path, monkeypatch):
    """After a template edit: pages change, no probe runs, nothing is trained or encoded, and the
    site equals (byte for byte) one whose figures were all encoded afresh."""
    from cnnatlas import compute, pipeline, weights
    from tests.conftest import TINY_CONFIG

    _, cache, first = tiny_build
    assert first.figures_encoded > 100
    templates = tmp_path / "templates"
    shutil.copytree(pipeline.TEMPLATES, templates)
    base = templates / "base.html"
    base.write_text(base.read_text().replace("</footer>", "<p>edited template</p></footer>", 1))
    monkeypatch.setattr(pipeline, "TEMPLATES", templates)

    def refuse(*args, **kwargs):
        raise AssertionError("a template edit must not compute or train")

    for name in ("batched", "batched_grid", "batched_diagnostics"):
        monkeypatch.setattr(compute, name, refuse)
    monkeypatch.setattr(weights, "train", refuse)
    cfg = load_config(TINY_CONFIG)

    warm = tmp_path / "warm-cache"
    shutil.copytree(cache, warm)
    rebuilt = pipeline.build(cfg, tmp_path / "rebuilt", warm)
    assert rebuilt.computed == 0
    assert rebuilt.figures_encoded == 0
    assert rebuilt.figures_cached == first.figures_encoded + first.figures_cached
    html = (tmp_path / "rebuilt" / "index.html").read_text()
    assert "edited template" in html

    fresh = tmp_path / "fresh-figures"
    shutil.copytree(cache, fresh)
    (fresh / figcache.FILE).unlink()
    cold = pipeline.build(cfg, tmp_path / "cold", fresh)
    assert (cold.figures_encoded, cold.figures_cached) == (
        first.figures_encoded,
        first.figures_cached,
    )
    a, b = _tree(tmp_path / "rebuilt"), _tree(tmp_path / "cold")
    assert sorted(a) == sorted(b)
    assert [p for p in a if a[p] != b[p]] == []
