"""Publishing (issue 8): the self-contained report, site.zip, sitemap and canonical links, search.

The report and the index come from the session's tiny build (tests/tiny.toml sets
`report = true`); one extra build with `base_url` set checks what changes then: a sitemap, one
canonical link per page, and nothing else.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnnatlas import pipeline
from cnnatlas.buildreport import BuildReport
from cnnatlas.config import load_config
from cnnatlas.pipeline import build
from cnnatlas.publish import SITEMAP_PATH, sitemap_xml, write_zip
from cnnatlas.render import Page
from cnnatlas.report import REPORT_PATH
from cnnatlas.search import INDEX_PATH, entries, parse_index_js
from cnnatlas.site import LayerInfo, Site, make_classes
from tests.browsercheck import broken_images
from tests.conftest import TINY_CONFIG
from tests.sitecheck import parse, tree_bytes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("atlas_cli", ROOT / "build.py")
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)
URL_ATTRS = {"src", "href", "srcset", "action", "formaction", "poster", "data", "cite", "ping"}
BASE_URL = "https://example.github.io/atlas/"
LOC = "{http://www.sitemaps.org/schemas/sitemap/0.9}loc"


class _Refs(HTMLParser):
    """Every URL-valued attribute, every id, the text of <style>/<script>, and the <img>s."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.ids: set[str] = set()
        self.code: list[str] = []
        self.styles: list[str] = []
        self.imgs: list[dict[str, str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.ids.update([a["id"]] if "id" in a else [])
        self.refs += [(tag, k, v) for k, v in a.items() if k in URL_ATTRS]
        self.styles += [a["style"]] if "style" in a else []
        self.imgs += [a] if tag == "img" else []
        self._in = tag if tag in ("style", "script") else None

    def handle_data(self, data):
        if self._in:
            self.code.append(data)

    def handle_endtag(self, tag):
        self._in = None


def _report(tiny_build) -> tuple[str, _Refs]:
    text = (tiny_build[0] / REPORT_PATH).read_text(encoding="utf-8")
    refs = _Refs()
    refs.feed(text)
    return text, refs


def test_report_refers_to_nothing_outside_itself(tiny_build):
    _, r = _report(tiny_build)
    outside = [(t, k, v[:60]) for t, k, v in r.refs if not v.startswith(("data:", "#"))]
    assert outside == []
    missing = [v for _, _, v in r.refs if v.startswith("#") and v[1:] not in r.ids]
    assert missing == []
    css_js = "\n".join(r.code + r.styles)
    assert re.findall(r"url\(\s*['\"]?(?!data:)", css_js) == []
    for word in (
        "@import",
        "fetch(",
        "XMLHttpRequest",
        "import(",
        "<iframe",
        "http://",
        "https://",
    ):
        assert word not in css_js


def test_report_shows_model_card_and_every_sample(tiny_build):
    site, _, report = tiny_build
    text, r = _report(tiny_build)
    # every inlined image is a PNG of the site, byte for byte
    pngs = {p.read_bytes() for p in (site / "img").rglob("*.png")}
    inlined = [base64.b64decode(i["src"].split(",", 1)[1]) for i in r.imgs]
    assert inlined and all(b in pngs for b in inlined)
    samples = [u.split("/")[1] for u, (_, t) in report.rendered.items() if t == "sample.html"]
    for sid in samples:
        assert f"sample-{sid}" in r.ids
        assert (site / f"img/samples/{sid}/input.png").read_bytes() in inlined
        gradcam = [
            i
            for i in r.imgs
            if i["alt"].startswith("Grad-CAM ·") and i["alt"].endswith(f"sample {sid}")
        ]
        assert len(gradcam) >= 2  # tests/tiny.toml: Grad-CAM at conv_1_2 and conv_2_2

    # the confusion matrix of the model card, cell for cell, and two training charts
    def confusion(html: str) -> list[str]:
        table = html[html.index('<table class="confusion">') :]
        table = table[: table.index("</table>")]
        return re.findall(r"<td class=\"(?:diag|off)\"[^>]*>(?:<a [^>]*>)?(\d+)<", table)

    cells = confusion(text)
    assert len(cells) == 100 and cells == confusion((site / "index.html").read_text())
    assert text.count('<svg class="chart"') == 2


@pytest.mark.browser
def test_report_opens_alone_with_no_request(page, tiny_build, tmp_path):
    """Copied into an empty folder and opened from file://, it asks for nothing but itself."""
    alone = tmp_path / "mail" / "report.html"
    alone.parent.mkdir()
    shutil.copy(tiny_build[0] / REPORT_PATH, alone)
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.on(
        "console",
        lambda m: requests.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.goto(alone.as_uri())
    page.wait_for_load_state("networkidle")
    assert broken_images(page) == []
    assert [u for u in requests if not u.startswith("data:")] == [alone.as_uri()]
    assert page.locator("#print-report").is_visible()


def test_zip_is_complete_and_deterministic(tiny_build, tmp_path):
    site = tiny_build[0]
    size = write_zip(site, tmp_path / "a.zip")
    copy = tmp_path / "copy"
    shutil.copytree(site, copy, copy_function=shutil.copy)  # new mtimes, same bytes
    write_zip(copy, tmp_path / "b.zip")
    data = (tmp_path / "a.zip").read_bytes()
    assert size == len(data) and data == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names == sorted(names)
        assert {n: zf.read(n) for n in names} == tree_bytes(site)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert ".nojekyll" in names and "index.html" in names and REPORT_PATH in names


def test_cli_report_zip_and_base_url(tiny_build, tmp_path, monkeypatch):
    """--report and --base-url reach the config; --zip writes <out>.zip next to the folder."""
    seen = {}

    def fake_build(cfg, out, cache, ui=None):
        seen["site"] = cfg.site
        shutil.copytree(tiny_build[0], out)
        return BuildReport(out=out)

    monkeypatch.setattr(pipeline, "build", fake_build)
    out = tmp_path / "public"
    args = ["--config", str(TINY_CONFIG), "--out", str(out), "--cache", str(tmp_path / "c")]
    assert cli.main([*args, "--report", "--zip", "--base-url", BASE_URL, "--quiet"]) == 0
    assert seen["site"].report and seen["site"].base_url == BASE_URL
    with zipfile.ZipFile(tmp_path / "public.zip") as zf:
        assert sorted(zf.namelist()) == sorted(tree_bytes(out))
    assert cli.main([*args, "--base-url", "ftp://x"]) == 1  # refused like the config key


def test_nothing_absolute_without_base_url(tiny_build):
    site = tiny_build[0]
    assert not (site / SITEMAP_PATH).exists()
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert 'rel="canonical"' not in text and "<base " not in text, page


@pytest.fixture(scope="module")
def with_base_url(tiny_build, tmp_path_factory):
    """The tiny site built again (from the same cache) with site.base_url set."""
    out = tmp_path_factory.mktemp("base-url") / "site"
    build(load_config(TINY_CONFIG, {"site": {"base_url": BASE_URL}}), out, tiny_build[1])
    return out


def test_base_url_adds_sitemap_and_canonical_links_only(tiny_build, with_base_url):
    site, _, report = tiny_build
    locs = [e.text for e in ET.parse(with_base_url / SITEMAP_PATH).getroot().iter(LOC)]
    pages = sorted({*report.rendered, REPORT_PATH} - {"404.html"})
    assert locs == [BASE_URL + u for u in pages]
    canonical = re.compile(r'<link rel="canonical" href="([^"]*)">\n')
    for url in report.rendered:
        text = (with_base_url / url).read_text(encoding="utf-8")
        found = canonical.findall(text)
        assert found == ([] if url == "404.html" else [BASE_URL + url]), url
        # apart from the canonical link (and the 404 page's <base>), the page is unchanged
        text = canonical.sub("", text).replace(f'<base href="{BASE_URL}">\n', "")
        assert text == (site / url).read_text(encoding="utf-8"), url
    assert f'<base href="{BASE_URL}">' in (with_base_url / "404.html").read_text()
    others = {k: v for k, v in tree_bytes(with_base_url).items() if not k.endswith(".html")}
    assert others.pop(SITEMAP_PATH)
    assert others == {k: v for k, v in tree_bytes(site).items() if not k.endswith(".html")}


def test_sitemap_escapes_and_sorts():
    xml = sitemap_xml("https://x.org/a&b", ["z/index.html", "a/index.html", "a/index.html"])
    locs = [e.text for e in ET.fromstring(xml).iter(LOC)]
    assert locs == ["https://x.org/a&b/a/index.html", "https://x.org/a&b/z/index.html"]


def test_search_index_covers_every_page_and_resolves(tiny_build):
    site, _, report = tiny_build
    index = parse_index_js((site / INDEX_PATH).read_text(encoding="utf-8"))
    urls = [e[1] for e in index]
    assert len(urls) == len(set(urls))
    assert set(report.rendered) - {"404.html"} <= set(urls)
    kinds = {e[2] for e in index}
    assert {"class", "layer", "unit", "sample", "method", "concept", "reading"} <= kinds
    for title, url, *_ in index:
        path, _, frag = url.partition("#")
        assert (site / path).is_file(), url
        if frag:
            assert frag in parse(site / path).ids, url
        else:  # a page's entry carries the page's own title
            head = (site / path).read_text(encoding="utf-8")
            assert f"<title>{title} · " in head.replace("&amp;", "&"), url


def _mini_site() -> Site:
    layer = LayerInfo("conv", "conv", (4, 4, 2), 20, 0)
    return Site("t", "", make_classes(("a", "b")), [layer], [], {}, [], {}, [], 1)


def test_search_units_link_to_unit_pages_when_they_exist():
    site = _mini_site()
    layer_page = ("layers", Page("layers/conv/index.html", "layer.html", {"title": "Layer conv"}))
    anchors = entries(site, [layer_page])
    assert [e[1] for e in anchors if e[2] == "unit"] == [
        "layers/conv/index.html#unit-0",
        "layers/conv/index.html#unit-1",
    ]
    unit_page = ("units", Page("units/conv/0/index.html", "unit.html", {"title": "conv unit 0"}))
    with_pages = entries(site, [layer_page, unit_page])
    assert [e[1] for e in with_pages if e[2] == "unit"] == ["units/conv/0/index.html"]


def test_slim_pages_give_the_same_index():
    """Issue 10: the build keeps each page for the index with only the context it reads."""
    from cnnatlas.search import slim

    site = _mini_site()
    layer = site.layers[0]
    big = {"title": "Layer conv", "layer": layer, "figures": list(range(10_000)), "rows": [{}]}
    pages = [("layers", Page("layers/conv/index.html", "layer.html", big))]
    slimmed = [(t, slim(p)) for t, p in pages]
    assert slimmed[0][1].context == {"title": "Layer conv", "layer": layer}
    assert entries(site, slimmed) == entries(site, pages)


def test_search_index_is_a_classic_script(tiny_build):
    text = (tiny_build[0] / INDEX_PATH).read_text(encoding="utf-8")
    assert text.startswith("window.CNNATLAS_SEARCH = [") and text.endswith("];\n")
    assert "fetch(" not in (ROOT / "templates/static/search.js").read_text()


def test_pages_workflow_uses_official_actions_with_least_privilege():
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load((ROOT / ".github/workflows/pages.yml").read_text())
    assert wf["permissions"] == {"contents": "read"}
    build_job, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert build_job["permissions"] == {"contents": "read", "pages": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    uses = [s["uses"].split("@")[0] for s in build_job["steps"] + deploy["steps"] if "uses" in s]
    assert uses == [
        "actions/checkout",
        "actions/setup-python",
        "actions/cache",
        "actions/configure-pages",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    ]
    cache = next(s for s in build_job["steps"] if s.get("uses", "").startswith("actions/cache"))
    for part in ("content/atlas.toml", "content/weights/**", "requirements.lock", "cnnatlas/**"):
        assert part in cache["with"]["key"]
    runs = " ".join(s.get("run", "") for s in build_job["steps"])
    assert "dataset-fashion-mnist" in runs and "make site" in runs


def test_page_linker_matches_relpath():
    """render.linker (issue 10: one page's links without a relpath each) gives what
    posixpath.relpath gives, fragments kept, for clean and unclean targets alike."""
    import posixpath
    import random

    from cnnatlas.render import linker, relative

    rng = random.Random(0)
    parts = ["samples", "img", "a", "x.png", "index.html", ".nojekyll", ".", "..", ""]
    pages = ["index.html", "samples/index.html", "samples/a/index.html", "img/a/b/index.html"]
    for _ in range(3000):
        to = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        to += "#f" if rng.random() < 0.1 else ""
        page = rng.choice(pages)
        want = relative(page, to) if to.partition("#")[0] else None
        assert (linker(page)(to) if want is not None else None) == want, (page, to)
        clean = to.partition("#")[0]
        if clean and "/." not in "/" + clean and "//" not in clean and not clean.endswith("/"):
            ref = posixpath.relpath(clean, posixpath.dirname(page) or ".")
            assert linker(page)(clean) == ref, (page, clean)
