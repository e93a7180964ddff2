"""Whether a page can show this build (issue 13): one mechanism for pages that need more than
the atlas in general. A page module with such limits defines `supports(site) -> str | None`
(None = supported, else the reason, in plain words, shown on the page instead); the pipeline
asks the same function before writing that page's data files. Model reasons are here; dataset
reasons join them in the page's `supports`.
"""

from __future__ import annotations

from ..render import Page
from ..site import Site

TINYVGG_KINDS = frozenset({"conv", "relu", "pool", "flatten", "dense"})


def model_reason(site: Site, page: str) -> str | None:
    """Why `page` (e.g. "The explainer") cannot run this model in the browser, or None: the
    pages compute TinyVGG-style stages only (convolutions, ReLU, 2×2 max-pooling, flatten,
    dense)."""
    other = sorted({ly.kind for ly in site.layers} - TINYVGG_KINDS)
    if not other:
        return None
    return (
        f"{page} computes TinyVGG-style networks (convolution, ReLU, max-pooling, flatten and "
        f"dense stages) in your browser; model '{site.model.get('name', '?')}' also has "
        f"{', '.join(other)} stages, so this page is not available for it. "
        "The other pages of the atlas show this model in full."
    )


def refusal(url: str, title: str, reason: str) -> Page:
    """The page shown instead: its title and the reason, nothing that needs data files."""
    return Page(url, "unsupported.html", {"title": title, "reason": reason})


MAX_BROWSER_SIDE = 96  # explainer / playground: larger inputs make MBs per sample, slow pages


def input_reason(site: Site, page: str, gray_only: bool = False) -> str | None:
    """Why `page` cannot show this model's inputs (issue 13: the dataset sets them), or None:
    inputs larger than MAX_BROWSER_SIDE on a side; with `gray_only`, colour inputs too (the
    playground draws and converts grayscale images)."""
    h, w, c = [*site.model.get("input_shape", ()), 1, 1, 1][:3]
    if max(h, w) > MAX_BROWSER_SIDE:
        return (
            f"{page} recomputes the network in your browser for inputs up to "
            f"{MAX_BROWSER_SIDE}×{MAX_BROWSER_SIDE} pixels; this model reads {h}×{w} images, so "
            "this page is not available for it. The sample and layer pages show every stage."
        )
    if gray_only and c != 1:
        return (
            f"{page} draws and converts grayscale images; this model reads {h}×{w} colour "
            f"images ({c} channels), so this page is not available for it. The sample pages "
            "show the precomputed maps of every sample."
        )
    return None
