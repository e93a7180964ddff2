"""Figure cache (issue 10): PNGs memoized by their pixels; a template edit re-encodes nothing.

The rebuild test reuses the session's tiny build (its compute and figure caches): a rebuild with
an edited template must render pages only (no probe, no training, no PNG encoding) and give the
same bytes as a build that encodes every figure afresh.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path

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


def test_figure_key_changes_with_every_drawing_input():
    """Figures keyed by what they are drawn from (issue 10): any input changes the key; the same
    values (another array object) keep it; and the lazy figure draws what map_png encodes."""
    rng = np.random.default_rng(3)
    a, x = rng.normal(size=(5, 4)).astype(np.float32), rng.random((5, 4, 1)).astype(np.float32)
    k = images.map_figure(a, -1.0, 1.0, True).key
    assert images.map_figure(a.copy(), -1, 1, True).key == k  # content, not identity
    b = a.copy()
    b[2, 3] += 1e-6
    keys = [
        k,
        images.map_figure(b, -1.0, 1.0, True).key,  # one value
        images.map_figure(a.astype(np.float64), -1.0, 1.0, True).key,  # dtype
        images.map_figure(a.reshape(4, 5), -1.0, 1.0, True).key,  # shape
        images.map_figure(a, -1.5, 1.0, True).key,  # vmin
        images.map_figure(a, -1.0, 1.5, True).key,  # vmax
        images.map_figure(a, -1.0, 1.0, False).key,  # colour map
        images.overlay_figure(x, a, -1.0, 1.0, True).key,  # drawing function
        images.overlay_figure(x, a, -1.0, 1.0, True, alpha=0.5).key,  # blend
        images.overlay_figure(x + 0.5, a, -1.0, 1.0, True).key,  # the image under the map
        images.image_figure(x).key,
        images.image_figure(x[..., 0:1] * 0.5).key,
    ]
    assert len(set(keys)) == len(keys)
    # independent reference: the colour table applied by hand, encoded as pixels
    lut = images.LUTS["diverging"]
    idx = np.clip(np.round((a.astype(np.float64) + 1.0) / 2.0 * 255), 0, 255).astype(np.uint8)
    got = np.asarray(Image.open(io.BytesIO(images.map_figure(a, -1.0, 1.0, True).png())))
    np.testing.assert_array_equal(got, lut[idx])


def _encode(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_figure_hits_draw_nothing(tmp_path):
    drawn = []

    def fig(seed: int) -> figcache.Figure:
        a = _pixels(seed)
        return figcache.figure("test", (a,), (), lambda: drawn.append(seed) or _encode(a))

    with figcache.use(tmp_path) as fc:
        first = fig(0).png()
        assert (drawn, fc.encoded) == ([0], 1)
    with figcache.use(tmp_path) as fc:
        assert fig(0).png() == first and fig(1).png() != first
        assert (drawn, fc.encoded, fc.hits) == ([0, 1], 1, 1)  # the hit drew no pixels


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


def _ids(root) -> dict[str, tuple[int, int]]:
    """Each file's (inode, mtime_ns): both stay the same only if the file was not rewritten."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_template_edit_rerenders_pages_only(tiny_build, tmp_path, monkeypatch):
    """After a template edit: pages change, no probe runs, nothing is trained or encoded, and the
    site equals (byte for byte) one whose figures were all encoded afresh."""
    from cnnatlas import compute, pipeline, weights
    from tests.conftest import TINY_CONFIG

    _, cache, first = tiny_build
    assert first.figures_encoded > 100
    cfg = load_config(TINY_CONFIG)
    warm = tmp_path / "warm-cache"
    shutil.copytree(cache, warm)
    pipeline.build(cfg, tmp_path / "rebuilt", warm)  # the site before the edit
    before, old_bytes = _ids(tmp_path / "rebuilt"), _tree(tmp_path / "rebuilt")
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
    rebuilt = pipeline.build(cfg, tmp_path / "rebuilt", warm)
    assert rebuilt.computed == 0
    assert rebuilt.figures_encoded == 0
    assert rebuilt.figures_cached == first.figures_encoded + first.figures_cached
    html = (tmp_path / "rebuilt" / "index.html").read_text()
    assert "edited template" in html
    # the writer rewrote exactly the files whose bytes changed, all pages (issue 10); every other
    # file kept its inode and mtime
    after, new_bytes = _ids(tmp_path / "rebuilt"), _tree(tmp_path / "rebuilt")
    assert sorted(after) == sorted(before)
    rewritten = {p for p in after if after[p] != before[p]}
    assert rewritten == {p for p in after if new_bytes[p] != old_bytes[p]}
    assert "index.html" in rewritten and all(p.endswith(".html") for p in rewritten)

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


def test_cache_without_the_used_table_is_migrated(tmp_path):
    """A figure cache written before `used` existed keeps its entries and their ages."""
    x, y = _pixels(6), _pixels(7)
    with figcache.use(tmp_path):
        images.png(x)
    with figcache.use(tmp_path):
        images.png(y)
    db = sqlite3.connect(tmp_path / figcache.FILE)
    with db:
        db.execute("DROP TABLE used")
    db.close()
    for _ in range(figcache.KEEP_BUILDS - 1):  # x: last used 1 + (KEEP - 1) builds ago
        with figcache.use(tmp_path):
            images.png(y)
    with figcache.use(tmp_path) as fc:
        images.png(x)
        images.png(y)
        assert (fc.encoded, fc.hits) == (1, 1)


def _rss_file_kb() -> int | None:
    """Resident file-backed pages of this process (Linux), KiB; None where unknown."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1])
    return None


def test_reading_every_entry_keeps_the_mapped_part_of_the_file_bounded(tmp_path):
    # A build into an empty folder reads every figure once. Pages of the database read through
    # its memory map stay resident in the process: with the whole file mapped, reading a
    # 10,000-sample site's figures would add the file's size to the peak RSS (issue 10).
    if _rss_file_kb() is None:
        return  # no /proc: nothing to measure here
    rng = np.random.default_rng(0)
    magic = b"\x89PNG\r\n\x1a\n"
    blobs = {bytes([i % 256, i // 256]) * 8: magic + rng.bytes(48_000) for i in range(2500)}
    with figcache.use(tmp_path) as fc:  # ~120 MB of incompressible entries
        for k, blob in blobs.items():
            fc.encode(k, lambda blob=blob: blob)
    with figcache.use(tmp_path) as fc:
        before = _rss_file_kb()
        for k, blob in blobs.items():
            assert fc.encode(k, lambda: b"") == blob
        grown_mb = (_rss_file_kb() - before) / 1024
        assert fc.hits == len(blobs)
    assert grown_mb < 90, f"reading 120 MB of figures kept {grown_mb:.0f} MB of the file resident"
