"""Hostile content: script payloads in the title, class names and file names show literally and
never run, in a real browser; slugs stay inside the site; unsafe URLs are refused."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from cnnatlas.config import load_config
from cnnatlas.errors import ConfigError
from cnnatlas.pipeline import build
from tests.conftest import TINY_CONFIG
from tests.sitecheck import broken_links

pytestmark = [pytest.mark.slow]

TITLE = '<script>alert("title")</script>'
CLASS = '<img src=x onerror=alert("class")>'
FILE = "<svg onload=alert('file')>.png"
NAMES = [
    CLASS,
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "../../etc/passwd",
    "Sneaker",
    "\"quoted'",
    "Ankle boot",
]


# session scope: pytest runs the browser-parametrized tests apart from this module's others, and
# a module-scoped site was built twice
@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory, tiny_build):
    base = tmp_path_factory.mktemp("hostile")
    samples = base / "samples"
    samples.mkdir()
    buf = io.BytesIO()
    Image.new("L", (20, 20), 0).save(buf, format="PNG")
    (samples / FILE).write_bytes(buf.getvalue())
    (samples / "notes<script>.txt").write_text("x")  # skipped: shows in the build report
    cfg = load_config(
        TINY_CONFIG,
        {
            "site": {"title": TITLE},
            "dataset": {"class_names": NAMES},
            "samples": {"per_class": 1, "dir": str(samples)},
        },
    )
    shutil.copytree(tiny_build[1], base / "cache")  # never add entries to the shared cache
    report = build(cfg, base / "site", base / "cache")
    return base / "site", report


def test_slugs_stay_inside_and_links_resolve(hostile_site):
    site, report = hostile_site
    assert broken_links(site) == []
    assert (site / "classes" / "etc-passwd" / "index.html").is_file()
    assert all(p.resolve().is_relative_to(site.resolve()) for p in site.rglob("*"))
    assert any("notes<script>.txt" in w for w in report.warnings)


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    [
        "index.html",
        "samples/index.html",
        "classes/index.html",
        "build/index.html",
        "samples/user-svg-onload-alert-file/index.html",
    ],
)
def test_payloads_show_literally_and_never_run(page, hostile_site, path):
    site, _ = hostile_site
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto((site / path).as_uri())
    page.wait_for_load_state("load")
    text = page.inner_text("body")
    assert dialogs == []
    assert page.title().endswith(TITLE)
    assert (
        page.evaluate(
            "() => document.querySelectorAll('main script, main svg[onload], main img[onerror]').length"
        )
        == 0
    )
    if path == "classes/index.html":
        assert CLASS in text and "\"quoted'" in text
    if path.startswith("samples/user-"):
        assert FILE in text
    if path == "build/index.html":
        assert "notes<script>.txt" in text


def test_javascript_base_url_refused(tmp_path):
    with pytest.raises(ConfigError, match="site.base_url: expected an http"):
        load_config(TINY_CONFIG, {"site": {"base_url": "javascript:alert(1)"}})
