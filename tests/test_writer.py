"""The site writer (issue 10): an incremental commit rewrites only changed files, yet the folder
always ends byte-identical to a write into an empty folder, with no stale entry; nothing changes
before `commit()`.

References: a cold write of the same outputs into a fresh folder (no manifest), and the live
files' inode + mtime (a file not rewritten keeps both).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from cnnatlas.errors import OutputError
from cnnatlas.writer import SiteWriter, manifest_path
from tests.sitecheck import tree_bytes


def _write(out: Path, cache: Path | None, files: dict[str, bytes]) -> SiteWriter:
    w = SiteWriter(out, cache)
    for rel, data in files.items():
        w.write(rel, data)
    w.commit()
    return w


def _cold(tmp: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    out = tmp / "cold"
    shutil.rmtree(out, ignore_errors=True)
    _write(out, None, files)
    return tree_bytes(out)


def _ids(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


SITE = {
    "index.html": b"<h1>home</h1>",
    "samples/a/index.html": b"<p>a</p>",
    "img/samples/a/input.png": b"\x89PNG a",
    "img/samples/b/input.png": b"\x89PNG b",
    "static/style.css": b"body {}",
}


def test_unchanged_outputs_are_not_rewritten(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    first = _write(out, cache, SITE)
    assert not first.incremental and manifest_path(cache, out).is_file()
    before = _ids(out)
    edited = {**SITE, "index.html": b"<h1>home, edited</h1>"}
    again = _write(out, cache, edited)
    assert again.incremental
    assert (again.kept, again.staged) == (len(SITE) - 1, 1)
    after = _ids(out)
    assert {p for p in after if after[p] != before[p]} == {"index.html"}
    assert tree_bytes(out) == _cold(tmp_path, edited)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "cold", "site"]  # no temp


def test_stale_and_foreign_entries_are_removed(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    _write(out, cache, SITE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the site's")
    (out / "user.txt").write_text("added by hand")
    (out / "samples" / "extra").mkdir()
    (out / "samples" / "extra" / "x.html").write_text("added by hand")
    (out / "link").symlink_to(outside, target_is_directory=True)
    fewer = {k: v for k, v in SITE.items() if not k.startswith("img/samples/b/")}
    w = _write(out, cache, fewer)
    assert w.incremental and w.staged == 0
    assert tree_bytes(out) == _cold(tmp_path, fewer)
    assert not (out / "img" / "samples" / "b").exists()  # emptied folders go too
    assert not (out / "link").is_symlink()
    assert (outside / "keep.txt").read_text() == "not the site's"  # a link is not followed


def test_deleted_or_edited_live_files_are_restored(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    _write(out, cache, SITE)
    (out / "static" / "style.css").unlink()
    page = out / "samples" / "a" / "index.html"
    stat = page.stat()
    page.write_bytes(b"<p>b</p>")  # same size; even with the old mtime put back
    os.utime(page, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    w = _write(out, cache, SITE)
    assert w.staged == 2
    assert tree_bytes(out) == _cold(tmp_path, SITE)


def test_files_and_folders_swap_places(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    one = {"a": b"file a", "b/index.html": b"page b"}
    two = {"a/index.html": b"page a", "b": b"file b"}
    for files in (one, two, one):
        _write(out, cache, files)
        assert tree_bytes(out) == _cold(tmp_path, files)


def test_nothing_changes_before_commit(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    _write(out, cache, SITE)
    before, ids = tree_bytes(out), _ids(out)
    w = SiteWriter(out, cache)
    w.write("index.html", b"new")
    w.write("new/page.html", b"new")
    assert w.read("index.html") == b"new"
    w.write("static/style.css", SITE["static/style.css"])  # kept: read from the live file
    assert w.read("static/style.css") == b"body {}"
    w.abort()
    assert tree_bytes(out) == before and _ids(out) == ids
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "site"]


def test_unusable_manifest_means_a_full_commit(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    _write(out, cache, SITE)
    manifest_path(cache, out).write_text("{not json")
    w = _write(out, cache, SITE)
    assert not w.incremental
    assert tree_bytes(out) == _cold(tmp_path, SITE)
    assert _write(out, cache, SITE).incremental  # rewritten by the full commit


def test_paths_are_checked_and_normalized(tmp_path):
    w = SiteWriter(tmp_path / "site")
    for bad in ("/etc/passwd", "../x", "a/../../x", "", ".", "a/.."):
        with pytest.raises(OutputError, match="outside the site folder"):
            w.write(bad, b"x")
    w.write("a//./b.html", b"x")
    with pytest.raises(OutputError, match="two outputs for one path"):
        w.write("a/b.html", b"y")
    w.commit()
    assert tree_bytes(tmp_path / "site") == {"a/b.html": b"x"}


def test_random_build_sequences_match_cold_writes(tmp_path):
    """Property: after any sequence of builds (files added, removed, changed, turned into
    folders), the folder equals a cold write of the last build's outputs."""
    rng = random.Random(0)
    names = ["index.html", "a", "a/index.html", "a/b.png", "a/c/d.png", "b/x.html", "c"]
    out, cache = tmp_path / "site", tmp_path / "cache"
    for _ in range(12):
        chosen: dict[str, bytes] = {}
        for n in rng.sample(names, rng.randint(1, len(names))):
            if not any(n.startswith(k + "/") or k.startswith(n + "/") for k in chosen):
                chosen[n] = rng.choice([b"", b"1", b"22", n.encode()])
        _write(out, cache, chosen)
        assert tree_bytes(out) == _cold(tmp_path, chosen)
        assert not [p for p in out.rglob("*") if p.is_dir() and not any(p.iterdir())]


def test_figures_with_the_same_drawing_key_are_kept_undrawn(tmp_path):
    """A figure (figcache.Figure) whose live file was drawn from the same key and is untouched is
    kept without drawing; a new key, or an edited file with the old stat put back, is redrawn.
    The folder always equals a cold write of the drawn bytes."""
    from cnnatlas.figcache import Figure

    out, cache = tmp_path / "site", tmp_path / "cache"
    drawn: list[str] = []

    def write(figs: dict[str, bytes]) -> SiteWriter:
        w = SiteWriter(out, cache)
        w.write("index.html", b"<h1>home</h1>")
        for rel, data in figs.items():
            key = bytes(16 - len(data)) + data  # a stand-in for the key of the drawing inputs
            w.write_figure(rel, Figure(key, lambda rel=rel, data=data: drawn.append(rel) or data))
        w.commit()
        return w

    figs = {"img/a.png": b"\x89PNG a", "img/b.png": b"\x89PNG b", "img/c.png": b"\x89PNG c"}
    write(figs)
    assert sorted(drawn) == sorted(figs)
    drawn.clear()
    before = _ids(out)
    w = write(figs)
    assert (drawn, w.kept, w.staged) == ([], 4, 0)  # nothing drawn, nothing rewritten
    assert _ids(out) == before and w.bytes == sum(map(len, figs.values())) + 13
    b = out / "img" / "b.png"
    stat = b.stat()
    b.write_bytes(b"\x89PNG x")  # edited; same size, old mtime put back (ctime tells)
    os.utime(b, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = {**figs, "img/c.png": b"\x89PNG C"}
    w = write(changed)
    assert sorted(drawn) == ["img/b.png", "img/c.png"] and w.staged == len(drawn)
    assert tree_bytes(out) == _cold(tmp_path, {"index.html": b"<h1>home</h1>", **changed})
    with pytest.raises(OutputError, match="two outputs for one path"):
        w = SiteWriter(out, cache)
        w.write_figure("img/a.png", Figure(bytes(16), lambda: b"a"))
        w.write_figure("img/a.png", Figure(bytes(16), lambda: b"a"))


def test_a_path_kept_twice_is_refused_at_commit_with_its_name(tmp_path):
    out, cache = tmp_path / "site", tmp_path / "cache"
    _write(out, cache, SITE)
    before = tree_bytes(out)
    w = SiteWriter(out, cache)
    w.write("static/style.css", SITE["static/style.css"])  # kept: nothing staged...
    w.write("static//style.css", SITE["static/style.css"])  # ...so only commit can tell
    with pytest.raises(OutputError, match=r"static/style\.css.*two outputs for one path"):
        w.commit()
    w.abort()
    assert tree_bytes(out) == before


def test_writer_state_is_a_few_dozen_bytes_per_file(tmp_path):
    """Issue 10: 10,000 samples make ~2.5 million files; the writer keeps flat arrays (48 bytes
    a file, and as much for the previous manifest), not a dict entry per path."""
    import tracemalloc

    out, cache = tmp_path / "site", tmp_path / "cache"
    files = {f"img/samples/s{i // 100:03d}/unit-{i % 100:02d}.png": b"x" for i in range(6000)}
    _write(out, cache, files)
    tracemalloc.start()
    w = SiteWriter(out, cache)  # loads the manifest of 6000 files
    for rel, data in files.items():
        w.write(rel, data)  # every one kept
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert w.kept == len(files)
    assert current / len(files) < 150, f"{current / len(files):.0f} bytes per file"
    w.commit()
    assert tree_bytes(out) == _cold(tmp_path, files)
