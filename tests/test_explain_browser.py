"""The explain page (issue 7) in headless Chromium, from file:// as a user opens it.

The convolution view's numbers must reproduce the activations the build stored (read here from
the build's cache, not from the page's data files); clicking a unit opens its detail view; the
keyboard alone reaches everything; switching samples needs no server.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnatlas.cache import read_entry
from tests.browsercheck import watch

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MOVES = ("", "ArrowLeft", "ArrowUp", "ArrowUp", "Home", "End")  # a few cells, edges included
PAGES = [
    "explain/index.html",
    "reading/index.html",
    "concepts/index.html",
    "concepts/relu/index.html",
]


@pytest.fixture(scope="module")
def stored(tiny_build):
    """{sample id: {stage: array}} from the build's activation cache."""
    cache = tiny_build[1] / "activations"
    out = {}
    for side in sorted(cache.rglob("*.json")):
        meta, arrays = read_entry(side)
        out[meta["sample"]] = arrays
    assert out, "no cached activations"
    return out


def _open(page, tiny_build, fragment=""):
    problems = watch(page)
    page.goto((tiny_build[0] / "explain" / "index.html").as_uri() + fragment)
    page.wait_for_function("document.getElementById('explain').getAttribute('data-sample')")
    return problems


def _computed(page, stored):
    out = page.locator("#conv-computed")
    i, j = map(int, out.get_attribute("data-cell").split(","))
    return (
        i,
        j,
        float(out.get_attribute("data-value")),
        float(page.locator("#conv-stored").get_attribute("data-value")),
    )


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly_from_file(page, tiny_build, path):
    problems = watch(page)
    page.goto((tiny_build[0] / path).as_uri())
    page.wait_for_load_state("networkidle")
    assert page.evaluate("() => [...document.images].filter(i => !i.naturalWidth).length") == 0
    assert problems == []


@pytest.mark.parametrize(
    ("stage", "unit"), [("conv_1_1", 2), ("conv_1_2", 7), ("conv_2_1", 4), ("conv_2_2", 9)]
)
def test_convolution_view_reproduces_the_stored_activation(page, tiny_build, stored, stage, unit):
    problems = _open(page, tiny_build)
    sid = page.locator("#explain").get_attribute("data-sample")
    page.locator(f"button.unit[data-stage='{stage}'][data-unit='{unit}']").click()
    assert page.locator("#detail").is_visible()
    acts = stored[sid][stage]
    seen = set()
    for key in MOVES:
        if key:
            page.locator(".dv-conv .mapframe.pickable").press(key)
        i, j, computed, shown = _computed(page, stored)
        seen.add((i, j))
        assert abs(computed - float(acts[i, j, unit])) < 1e-4, (stage, i, j)
        assert shown == pytest.approx(float(acts[i, j, unit]), abs=1e-6)
    assert len(seen) >= 4 and (0, 0) in seen
    assert problems == []


def test_output_view_reproduces_logits_and_probabilities(page, tiny_build, stored):
    problems = _open(page, tiny_build)
    sid = page.locator("#explain").get_attribute("data-sample")
    page.locator("button.unit[data-stage='dense'][data-unit='3']").click()
    logit = float(page.locator("#dense-computed").get_attribute("data-value"))
    assert abs(logit - float(stored[sid]["dense"][3])) < 1e-4
    probs = [
        float(v)
        for v in page.locator("td.prob").evaluate_all("els => els.map(e => e.dataset.value)")
    ]
    np.testing.assert_allclose(probs, stored[sid]["probs"], atol=1e-5)
    assert problems == []


def test_clicking_a_unit_opens_its_detail_and_a_deep_link(page, tiny_build):
    problems = _open(page, tiny_build)
    assert page.locator("#detail").is_hidden()
    page.locator("button.unit[data-stage='pool_1'][data-unit='1']").click()
    assert page.locator("#detail").is_visible()
    assert "pool_1 · unit 1" in page.locator("#detail-title").inner_text()
    assert page.locator(".dv-pool table.nums td.max").count() == 1
    assert page.url.endswith("/pool_1/1")
    page.locator("button.unit[data-stage='relu_2_1'][data-unit='0']").click()
    assert "max(0, " in page.locator(".dv-relu .formula").inner_text()
    # the deep link reopens the same view
    fragment = "#" + page.url.split("#", 1)[1]
    page2 = page.context.new_page()
    problems2 = _open(page2, tiny_build, fragment)
    assert "relu_2_1 · unit 0" in page2.locator("#detail-title").inner_text()
    assert problems == [] and problems2 == []


def test_keyboard_reaches_units_details_and_samples(page, tiny_build):
    problems = _open(page, tiny_build)
    first = page.locator(".ov-cols .unit[tabindex='0']")
    assert first.count() == 1  # one tab stop for the whole overview
    first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    focused = page.evaluate(
        "() => [document.activeElement.dataset.stage, document.activeElement.dataset.unit]"
    )
    assert focused == ["relu_1_1", "2"]
    page.keyboard.press("Enter")
    assert page.locator("#detail").is_visible()
    assert page.evaluate("() => document.activeElement.id") == "detail-title"
    page.keyboard.press("Tab")  # into the detail view; Escape closes it and returns focus
    page.keyboard.press("Escape")
    assert page.locator("#detail").is_hidden()
    assert page.evaluate("() => document.activeElement.dataset.stage") == "relu_1_1"
    # samples: arrow keys move between thumbnails, Enter shows one (a script file loaded on demand)
    before = page.locator("#explain").get_attribute("data-sample")
    page.locator(".thumb[aria-pressed='true']").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.getElementById('explain').getAttribute('data-sample') !== '{before}'"
    )
    after = page.locator("#explain").get_attribute("data-sample")
    assert page.locator(f"#sample-{after}").get_attribute("aria-pressed") == "true"
    assert page.url.endswith(f"#sample-{after}")
    assert problems == []


def test_switching_samples_keeps_the_open_view_and_its_numbers_right(page, tiny_build, stored):
    problems = _open(page, tiny_build)
    page.locator("button.unit[data-stage='conv_2_2'][data-unit='1']").click()
    other = page.locator(".thumb[aria-pressed='false']").last
    sid = other.get_attribute("data-sample")
    other.click()
    page.wait_for_function(
        f"document.getElementById('explain').getAttribute('data-sample') === '{sid}'"
    )
    i, j, computed, _ = _computed(page, stored)
    assert abs(computed - float(stored[sid]["conv_2_2"][i, j, 1])) < 1e-4
    assert page.url.endswith(f"#sample-{sid}/conv_2_2/1")
    assert problems == []


def test_hyperparameter_view_computes_output_size(page, tiny_build):
    problems = _open(page, tiny_build)
    for name, value in (("n", "7"), ("p", "1"), ("k", "3"), ("s", "2")):
        page.locator(f"#hp-{name}").fill(value)
    assert page.locator("#hp-out").inner_text() == "4 × 4"
    assert page.locator("#hp-svg rect.out").count() == 16
    assert page.locator("#hp-svg rect.pad").count() == 9 * 9 - 7 * 7
    page.locator("#hp-k").fill("7")
    page.locator("#hp-s").fill("3")  # (7 + 2 - 7) / 3 + 1 = 1, and 2 rows are never covered
    assert page.locator("#hp-out").inner_text() == "1 × 1"
    assert "never covered" in page.locator("#hp-note").inner_text()
    assert problems == []
