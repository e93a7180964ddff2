"""The t-SNE map pages in headless Chromium, from file:// and over HTTP under a sub-path.

The scatter canvas holds only vector drawing, so its pixels can be read back even from file://;
the thumbnail canvas draws the sprite PNG, which taints it there, so the test reads its
`data-thumb` attribute instead (and its pixels over HTTP only).
"""

from __future__ import annotations

import pytest

from tests.browsercheck import watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAYERS = ["input", "pool_2", "dense"]  # tests/tiny.toml uses the default layers
MODES = ["file", "http"]


def _open(page, tiny_build, served, mode, layer="pool_2"):
    base = tiny_build[0].as_uri() + "/" if mode == "file" else served
    problems = watch(page)
    page.set_viewport_size({"width": 1280, "height": 1200})  # the whole canvas in view
    page.goto(base + f"maps/{layer}/index.html")
    page.wait_for_selector("#mapview[data-ready='1']")
    return problems


def _data(page):
    return page.evaluate(
        "() => ({n: CNNATLAS_POINTS.n, labels: CNNATLAS_POINTS.labels, preds: CNNATLAS_POINTS.preds,"
        " colours: CNNATLAS_POINTS.classes.map(c => c.colour), samples: CNNATLAS_POINTS.samples})"
    )


def _colour_counts(page, colours):
    """How many scatter-canvas pixels have exactly each class colour."""
    return page.evaluate(
        """(colours) => {
          const c = document.getElementById('map-canvas');
          const copy = document.createElement('canvas');  // one readback per context: no warning
          copy.width = c.width; copy.height = c.height;
          const g = copy.getContext('2d', {willReadFrequently: true});
          g.drawImage(c, 0, 0);
          const px = g.getImageData(0, 0, c.width, c.height).data;
          const want = colours.map(h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16)));
          const counts = want.map(() => 0);
          for (let i = 0; i < px.length; i += 4) {
            for (let k = 0; k < want.length; k++) {
              if (px[i] === want[k][0] && px[i + 1] === want[k][1] && px[i + 2] === want[k][2]) counts[k]++;
            }
          }
          return counts;
        }""",
        colours,
    )


def _hover_point(page, i):
    """Move the mouse onto point i; returns its screen position in the page."""
    box = page.locator("#map-canvas").bounding_box()
    sx, sy = page.evaluate("(i) => CNNATLAS_MAP.screenOf(i)", i)
    assert 0 < box["y"] + sy < page.viewport_size["height"], "point outside the viewport"
    page.mouse.move(box["x"] + sx, box["y"] + sy)
    return box["x"] + sx, box["y"] + sy


@pytest.mark.parametrize("mode", MODES)
def test_map_pages_load_and_draw_every_point(page, tiny_build, served, mode):
    for layer in LAYERS:
        problems = _open(page, tiny_build, served, mode, layer)
        page.wait_for_load_state("networkidle")
        d = _data(page)
        assert d["n"] == 500 and len(d["labels"]) == 500
        assert page.get_attribute("#mapview", "data-drawn") == "500"
        counts = _colour_counts(page, d["colours"])
        assert all(c > 0 for c in counts), counts  # every class is drawn in its own colour
        broken = page.evaluate(
            "() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)"
        )
        assert broken == [] and problems == []
    base = tiny_build[0].as_uri() + "/" if mode == "file" else served
    page.goto(base + "maps/index.html")
    assert page.locator("a.map-card").count() == 3 and page.title().startswith("Maps")


@pytest.mark.parametrize("mode", MODES)
def test_hover_shows_thumbnail_and_labels(page, tiny_build, served, mode):
    problems = _open(page, tiny_build, served, mode)
    d = _data(page)
    i = next(j for j in range(d["n"]) if d["labels"][j] != d["preds"][j])  # a misclassified one
    _hover_point(page, i)
    tip = page.locator("#map-tip")
    tip.wait_for(state="visible")
    page.wait_for_function(
        "() => { const t = document.getElementById('map-tip'); return t.dataset.thumb && t.dataset.thumb === t.dataset.index; }"
    )
    shown = int(tip.get_attribute("data-index"))
    text = page.inner_text("#map-tip-text")
    names = page.evaluate("() => CNNATLAS_POINTS.classes.map(c => c.name)")
    assert f"#{shown}" in text and f"true: {names[d['labels'][shown]]}" in text
    assert f"predicted: {names[d['preds'][shown]]}" in text
    if mode == "http":  # the sprite is same-origin here, so the thumbnail's pixels can be read
        lit = page.evaluate(
            "() => { const c = document.getElementById('map-thumb');"
            " return c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((v, k) => k % 4 === 0 && v > 0).length; }"
        )
        assert lit > 100
    page.mouse.move(1, 1)
    assert tip.is_hidden()
    assert problems == []


@pytest.mark.parametrize("mode", MODES)
def test_legend_toggles_classes(page, tiny_build, served, mode):
    problems = _open(page, tiny_build, served, mode)
    d = _data(page)
    c = 1
    n_c = d["labels"].count(c)
    button = page.locator(f".legend-btn[data-class='{c}']")
    button.click()
    assert button.get_attribute("aria-pressed") == "false"
    assert page.get_attribute("#mapview", "data-drawn") == str(500 - n_c)
    assert _colour_counts(page, d["colours"])[c] == 0
    button.press("Enter")  # keyboard works too
    assert button.get_attribute("aria-pressed") == "true"
    assert page.get_attribute("#mapview", "data-drawn") == "500"
    assert _colour_counts(page, d["colours"])[c] > 0
    page.get_by_label("misclassified only").check()
    wrong = sum(a != b for a, b in zip(d["labels"], d["preds"], strict=True))
    assert page.get_attribute("#mapview", "data-drawn") == str(wrong)
    assert problems == []


def test_click_and_keyboard_open_sample_pages(page, tiny_build, served):
    _open(page, tiny_build, served, "http")
    d = _data(page)
    i = min(int(k) for k in d["samples"])
    x, y = _hover_point(page, i)
    page.locator("#map-tip").wait_for(state="visible")
    page.mouse.click(x, y)
    page.wait_for_url(f"**/samples/test-{i:05d}/index.html")
    assert page.title().startswith(f"Sample test-{i:05d}")
    _open(page, tiny_build, served, "http")
    page.focus("#map-canvas")
    page.keyboard.press("n")
    assert int(page.get_attribute("#map-tip", "data-index")) == i  # the first sample image
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/samples/test-{i:05d}/index.html")


@pytest.mark.parametrize("mode", MODES)
def test_layer_switch_keeps_view(page, tiny_build, served, mode):
    problems = _open(page, tiny_build, served, mode, "pool_2")
    page.focus("#map-canvas")
    page.keyboard.press("+")
    page.keyboard.press("ArrowLeft")
    page.locator(".legend-btn[data-class='3']").click()
    before = page.evaluate("() => CNNATLAS_MAP.state()")
    page.get_by_role("navigation", name="Map layers").get_by_role("link", name="dense").click()
    page.wait_for_selector("#mapview[data-ready='1']")
    assert "maps/dense/index.html" in page.url
    after = page.evaluate("() => CNNATLAS_MAP.state()")
    assert after["view"]["zoom"] == pytest.approx(before["view"]["zoom"], abs=1e-3)
    assert after["view"]["x"] == pytest.approx(before["view"]["x"], abs=1)
    assert after["hidden"] == {"3": True}
    assert page.locator(".legend-btn[data-class='3']").get_attribute("aria-pressed") == "false"
    assert problems == []
