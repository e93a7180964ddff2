"""Pages that list every sample show at most `site.gallery_samples` of them (issue 10: at 10,000
samples a layer page listed 10,000 maps per unit), and say so."""

from __future__ import annotations

from cnnatlas.pages import layers as layer_pages
from cnnatlas.pipeline import NAV, TEMPLATES
from cnnatlas.render import environment, render
from cnnatlas.site import LayerInfo, SampleInfo, Site, make_classes


def _site(n: int, cap: int) -> Site:
    layers = [LayerInfo("conv", "conv", (4, 4, 2), 20, 0), LayerInfo("dense", "dense", (2,), 6, 1)]
    samples = [SampleInfo(f"test-{i:05d}", i % 2, 0, (1.0, 0.0), "", ()) for i in range(n)]
    model = {"name": "tinyvgg", "hparams": {}, "input_shape": [4, 4, 1], "params_total": 26}
    site = Site(
        "t",
        "",
        make_classes(("a", "b")),
        layers,
        samples,
        model,
        [],
        {"accuracy": 0.5, "n": 4},
        [],
        2,
    )
    site.gallery_samples = cap
    return site


def _pages(site: Site) -> dict:
    return {p.url: p for p in layer_pages.pages(site)}


def test_layer_pages_show_the_first_gallery_samples_and_say_so(tmp_path):
    site = _site(5, 2)
    pages = _pages(site)
    conv, dense = pages["layers/conv/index.html"], pages["layers/dense/index.html"]
    ids = ["test-00000", "test-00001"]
    assert [[s.id for s, _ in u["maps"]] for u in conv.context["units"]] == [ids, ids]
    assert [s.id for s, _ in dense.context["strips"]] == ids
    env = environment(TEMPLATES)
    html = render(env, conv, {"site": site, "nav": NAV, "version": "0"})
    assert "The first 2 of 5 samples" in html and "site.gallery_samples" in html
    assert html.count('title="test-0000') == 2 * 2  # two units × two samples
    full = _site(5, 100)
    html = render(
        env, _pages(full)["layers/conv/index.html"], {"site": full, "nav": NAV, "version": "0"}
    )
    assert "gallery_samples" not in html and html.count('title="test-0000') == 2 * 5
