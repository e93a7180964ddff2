"""Issue 10: a rebuild whose inputs other than templates and prose are unchanged reuses the last
build's site model (cnnatlas/sitemodel.py) and renders pages only, without importing JAX, and
in several processes (cnnatlas/forkrender.py); anything else that changed is computed again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from cnnatlas import forkrender, pipeline, sitemodel
from cnnatlas.config import load_config
from tests.conftest import ROOT, TINY_CONFIG


def _tree(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def built(tiny_build, tmp_path_factory):
    """A copy of the session's cache and a build into a new folder with it (which keeps its
    site model): (site folder, cache folder, the site's files). The tests below run in file
    order; each leaves the folder as this build made it, but the last."""
    tmp = tmp_path_factory.mktemp("sitemodel")
    cache = tmp / "cache"
    shutil.copytree(tiny_build[1], cache)
    out = tmp / "site"
    first = pipeline.build(load_config(TINY_CONFIG), out, cache)
    assert "compute" in first.seconds  # a new folder has no manifest: nothing to reuse
    assert list((cache / sitemodel.FOLDER).glob("*.pickle"))
    return out, cache, _tree(out)


def test_rebuild_reuses_the_site_model_without_jax(built, tiny_build):
    """In a fresh process: no JAX import, no compute phase, the same bytes as a full build."""
    out, cache, before = built
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from cnnatlas.config import load_config
        from cnnatlas.pipeline import build
        r = build(load_config({str(TINY_CONFIG)!r}), Path({str(out)!r}), Path({str(cache)!r}))
        print(json.dumps({{"jax": "jax" in sys.modules, "phases": list(r.seconds),
                          "computed": r.computed, "images": r.images, "pages": r.pages}}))
    """)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["jax"] is False
    assert got["phases"] == ["data", "site model", "render"]
    assert got["computed"] == 0 and got["images"] == tiny_build[2].images
    assert got["pages"] == tiny_build[2].pages
    assert _tree(out) == before == _tree(tiny_build[0])


def test_an_edited_live_figure_is_drawn_again(built):
    """A file of the site changed by hand since the last build: nothing of the site model's
    files is trusted, the site is computed again and the file restored."""
    out, cache, before = built
    png = next(p for p in sorted(before) if p.startswith("img/samples/"))
    (out / png).write_bytes(b"edited")
    report = pipeline.build(load_config(TINY_CONFIG), out, cache)
    assert "compute" in report.seconds
    assert _tree(out) == before


def test_a_changed_input_is_computed_again(built):
    """A config change is a new key: the site is computed (from the artifact cache) again.
    (Last: it leaves the folder built with that config.)"""
    out, cache, _ = built
    cfg = load_config(TINY_CONFIG, {"site": {"title": "Another <title>"}})
    report = pipeline.build(cfg, out, cache)
    assert "compute" in report.seconds and "site model" not in report.seconds
    assert "Another &lt;title&gt;" in (out / "index.html").read_text()
    again = pipeline.build(cfg, out, cache)  # and that site model is reused in turn
    assert "site model" in again.seconds


def test_input_key_follows_every_input(tmp_path):
    """The key changes with the config, the dataset, the samples folder and the weights files;
    it is the same for the same inputs."""
    samples, weights = tmp_path / "samples", tmp_path / "w.msgpack"
    samples.mkdir()
    weights.write_bytes(b"w1")
    over = {"samples": {"dir": str(samples)}, "train": {"weights": str(weights)}}
    cfg = load_config(TINY_CONFIG, over)
    key = sitemodel.input_key(cfg, "data1")
    assert key == sitemodel.input_key(load_config(TINY_CONFIG, over), "data1")
    assert key != sitemodel.input_key(cfg, "data2")
    assert key != sitemodel.input_key(load_config(TINY_CONFIG, {**over, "seed": 1}), "data1")
    (samples / "a.png").write_bytes(b"png")
    key2 = sitemodel.input_key(cfg, "data1")
    assert key2 != key
    weights.write_bytes(b"w2")
    key3 = sitemodel.input_key(cfg, "data1")
    assert key3 != key2
    weights.with_suffix(".json").write_text("{}")  # its provenance decides whether it is used
    assert sitemodel.input_key(cfg, "data1") != key3


def test_a_custom_model_outside_the_config_folder_is_never_reused(tmp_path):
    """Its source cannot be keyed: no key, so every build computes."""
    toml = tmp_path / "atlas.toml"
    toml.write_text('[model]\nname = "custom"\nentry = "json:loads"\n')  # from sys.path
    assert sitemodel.input_key(load_config(toml), "data") is None
    (tmp_path / "mymodel.py").write_text("def make(): pass\n")
    toml.write_text('[model]\nname = "custom"\nentry = "mymodel:make"\n')
    key = sitemodel.input_key(load_config(toml), "data")
    (tmp_path / "mymodel.py").write_text("def make(): return 1\n")
    assert key is not None and sitemodel.input_key(load_config(toml), "data") != key


def test_processes_is_one_with_jax_imported():
    assert "jax" in sys.modules  # conftest imports it
    assert forkrender.processes() == 1


FORK_SCRIPT = """
import json, sys
from types import SimpleNamespace
from cnnatlas import forkrender

def pages():
    return ((f"t{i % 2}", SimpleNamespace(url=f"p{i}.html", bad=i == BAD)) for i in range(11))

def render(page):
    if page.bad:
        raise ValueError(f"template failed on {page.url}")
    return f"<p>{page.url} é</p>"

out = {}
for n in (1, 2, 3):
    for BAD in (-1, 5):
        written, seen = [], []
        try:
            forkrender.render_pages(
                pages, render, lambda u, h: written.append((u, h)),
                lambda t, p: seen.append((t, p.url)), n
            )
            error = None
        except ValueError as e:
            error = str(e)
        out[f"{n} {BAD}"] = [sorted(written), seen, error]
print(json.dumps({"runs": out, "jax": "jax" in sys.modules}))
"""


def test_fork_render_writes_every_page_once_as_one_process_does():
    """Pages split over 1, 2 or 3 processes: each written once with the same bytes, every page
    seen in order; a page that fails in a worker fails the same way as in one process."""
    r = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["jax"] is False
    runs = got["runs"]
    ok = runs["1 -1"]
    assert len(ok[0]) == 11 and ok[0][0] == ["p0.html", "<p>p0.html é</p>"] and ok[2] is None
    assert ok[1] == [[f"t{i % 2}", f"p{i}.html"] for i in range(11)]
    assert runs["2 -1"] == runs["3 -1"] == ok
    for n in (1, 2, 3):  # page 5 is a worker's in both n = 2 and n = 3
        assert runs[f"{n} 5"][2] == "template failed on p5.html"


def test_saved_site_model_loads_only_whole_and_under_its_key(tmp_path):
    """A kept site model reads back equal; another key, a damaged file or none is a miss."""
    import numpy as np

    from cnnatlas.site import Site

    site = Site("t", "", [], [], [], {}, [], {}, [], 5, extra={"x": np.arange(3)})
    keys = np.array([3, 1], np.uint64)
    marks = np.zeros((2, 16), np.uint8)
    model = sitemodel.SiteModel(site, {"images": 2}, ["w"], keys, marks, marks + 1)
    out, cache = tmp_path / "site", tmp_path / "cache"
    assert sitemodel.load(cache, out, "k") is None  # none kept
    sitemodel.keep(sitemodel.stage("k", model), cache, out)
    got = sitemodel.load(cache, out, "k")
    assert got.site.title == "t" and got.report == {"images": 2} and got.warnings == ["w"]
    assert np.array_equal(got.keys, keys) and np.array_equal(got.figures, marks + 1)
    assert np.array_equal(got.site.extra["x"], np.arange(3))
    assert sitemodel.load(cache, out, "other") is None and sitemodel.load(cache, out, None) is None
    path = sitemodel.snapshot_path(cache, out)
    path.write_bytes(path.read_bytes()[:-20])  # cut short
    assert sitemodel.load(cache, out, "k") is None
