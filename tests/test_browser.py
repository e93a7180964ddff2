"""The atlas in headless Chromium, from file:// and from a web server under a sub-path.

No console error, no failed request, no request leaving the machine, every image decoded,
and the main interactions (navigation, Grad-CAM scale switch) work.
"""

from __future__ import annotations

import pytest

from tests.browsercheck import watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = [
    "index.html",
    "samples/index.html",
    "samples/test-00000/index.html",
    "layers/index.html",
    "layers/conv_1_1/index.html",
    "layers/dense/index.html",
    "classes/index.html",
    "classes/ankle-boot/index.html",
    "methods/index.html",
    "methods/integrated_gradients/index.html",
    "misclassified/index.html",
    "404.html",
]


def _base(mode, tiny_build, served):
    return tiny_build[0].as_uri() + "/" if mode == "file" else served


@pytest.mark.parametrize("mode", ["file", "http"])
@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly(page, tiny_build, served, mode, path):
    problems = watch(page)
    page.goto(_base(mode, tiny_build, served) + path)
    page.wait_for_load_state("networkidle")
    page.evaluate(
        "() => Promise.all([...document.images].map(i => i.loading === 'lazy' ? (i.loading = 'eager', i.decode().catch(() => {})) : i.decode().catch(() => {})))"
    )
    broken = page.evaluate(
        "() => [...document.images].filter(i => !i.complete || !i.naturalWidth).map(i => i.src)"
    )
    assert broken == []
    assert problems == []
    assert page.title().endswith("tiny atlas")
    assert page.locator("main h1").count() == 1


def test_navigation_changes_title(page, tiny_build, served):
    page.goto(served + "index.html")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Samples").click()
    assert page.title().startswith("Samples")
    page.locator("a.card").first.click()
    assert page.title().startswith("Sample test-")
    page.get_by_role("link", name="next →").click()
    assert page.url.endswith("/index.html") and page.title().startswith("Sample test-")


@pytest.mark.parametrize("mode", ["file", "http"])
def test_attribution_scale_switch(page, tiny_build, served, mode):
    page.goto(_base(mode, tiny_build, served) + "samples/test-00000/index.html")
    cards = "#attribution ~ div.attr-cards"
    scopes = {s: page.locator(f"{cards} .scope-{s} img").first for s in ("map", "class", "set")}
    assert scopes["map"].is_visible() and not scopes["set"].is_visible()
    for label, scope in (
        ("shared across the sample set", "set"),
        ("shared across methods for a class", "class"),
        ("per map", "map"),
    ):
        page.get_by_label(label).check()
        assert all(loc.is_visible() == (s == scope) for s, loc in scopes.items()), scope


def test_formulas_are_laid_out_as_math(page, tiny_build):
    """The method page's equations are MathML the browser typesets: a fraction's numerator sits
    above its denominator (as plain text they would run side by side on one line)."""
    page.goto(tiny_build[0].as_uri() + "/methods/integrated_gradients/index.html")
    blocks = page.locator(".prose .math.block math")
    assert blocks.count() >= 2 and blocks.first.is_visible()
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.prose .math.block mfrac')].map(f => {
             const [num, den] = [...f.children].map(c => c.getBoundingClientRect());
             return [num.bottom, den.top, num.height, den.height];
           })"""
    )
    assert boxes and all(h1 > 0 and h2 > 0 and bottom <= top + 1 for bottom, top, h1, h2 in boxes)
    assert page.locator(".prose .math.inline math").count() >= 3
