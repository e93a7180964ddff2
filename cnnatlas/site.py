"""The site as data: every entity with its URL, built before anything is rendered.

`url_for` is the only place that builds URLs; templates make them relative with the `url`
function, so the site works from file:// and under any sub-path. No JAX here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .samples import slugify


@dataclass(frozen=True)
class ClassInfo:
    index: int
    name: str
    slug: str


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    shape: tuple[int, ...]
    params: int
    index: int

    @property
    def is_map(self) -> bool:  # spatial (h, w, K) output: drawn as unit maps
        return len(self.shape) == 3

    @property
    def units(self) -> int:
        return self.shape[-1]

    @property
    def signed(self) -> bool:  # conv and dense outputs are pre-activation, hence signed
        return self.kind in ("conv", "dense", "flatten")


@dataclass(frozen=True)
class SampleInfo:
    id: str
    label: int | None
    pred: int
    probs: tuple[float, ...]
    source: str
    preprocessing: tuple[str, ...]

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.label == self.pred


@dataclass(frozen=True)
class MethodInfo:
    """An enabled attribution method, as plain values: its registry entry and the hparams used."""

    name: str
    title: str
    signed: bool
    paper: str
    version: int
    hparams: tuple[tuple[str, Any], ...]  # resolved, as used in this build (job options included)
    classes: str  # "pred_true" or "all"
    diagnostic_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:
    """One row of the method × class grid: a method at one layer ("input" for input methods)."""

    method: MethodInfo
    layer: str

    @functools.cached_property  # one string, not one per use (~60 a sample; issue 10)
    def key(self) -> str:  # also the image folder: img/samples/<id>/<method>/<layer>/
        return f"{self.method.name}/{self.layer}"

    @property
    def title(self) -> str:
        return self.method.title if self.layer == "input" else f"{self.method.title} · {self.layer}"


@dataclass
class Site:
    """Everything the pages show. Arrays stay NumPy; templates receive plain values."""

    title: str
    base_url: str
    classes: list[ClassInfo]
    layers: list[LayerInfo]
    samples: list[SampleInfo]
    model: dict[str, Any]  # name, hparams, input_shape, params_total, provenance
    history: list[dict[str, float]]
    test: dict[str, Any]  # accuracy, confusion (list of lists), n
    gradcam_layers: list[str]
    topk: int
    gallery_samples: int = 100  # at most this many samples on a page listing all samples
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def gallery(self, samples: list[SampleInfo] | None = None) -> list[SampleInfo]:
        """The first `gallery_samples` of `samples` (default: the sample set)."""
        return (self.samples if samples is None else samples)[: self.gallery_samples]

    def url_for(self, kind: str, key: Any = None) -> str:
        """Site-relative URL of an entity: ('sample', id), ('layer', name), ('class', index) ..."""
        if kind == "home":
            return "index.html"
        if kind in ("samples", "layers", "classes", "maps"):
            return f"{kind}/index.html"
        if kind == "sample":
            return f"samples/{key}/index.html"
        if kind == "layer":
            return f"layers/{key}/index.html"
        if kind == "map":  # a t-SNE map of the test set at one layer ("input" = pixels)
            return f"maps/{key}/index.html"
        if kind == "class":
            return f"classes/{self.classes[key].slug}/index.html"
        if kind == "methods":
            return "methods/index.html"
        if kind == "method":
            return f"methods/{key}/index.html"
        if kind == "misclassified":
            return "misclassified/index.html"
        if kind in ("reading", "concepts"):
            return f"{kind}/index.html"
        if kind == "concept":  # content/pages/concepts/<slug>.md
            return f"concepts/{key}/index.html"
        if kind == "explain":  # key: a sample id, selected by the fragment (its thumbnail's id)
            return "explain/index.html" + (f"#sample-{key}" if key is not None else "")
        if kind == "playground":  # draw / upload / pick, the model runs in the page
            return "playground/index.html"
        if kind == "build":  # the build report: warnings and skipped files
            return "build/index.html"
        if kind == "units":  # every layer's maximizing images
            return "units/index.html"
        if kind == "unit":  # key: (layer, unit index); conv channels and dense units
            return f"units/{key[0]}/{key[1]}/index.html"
        if kind == "static":
            return f"static/{key}"
        raise KeyError(f"no URL for {kind!r}")

    def sample_groups(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Samples by true class, then the user's images, each with its thumbnail path
        (the sample pickers of the explain and playground pages)."""
        groups = [(c.name, [s for s in self.samples if s.label == c.index]) for c in self.classes]
        groups.append(("your images", [s for s in self.samples if s.label is None]))
        return [
            (name, [{"s": s, "thumb": img_path("samples", s.id, "input")} for s in mine])
            for name, mine in groups
            if mine
        ]

    def class_name(self, index: int | None) -> str:
        return "unknown" if index is None else self.classes[index].name


def make_classes(names: tuple[str, ...]) -> list[ClassInfo]:
    """Class entities with unique, path-safe slugs."""
    out, seen = [], set()
    for i, name in enumerate(names):
        slug, n = slugify(name), 2
        base = slug
        while slug in seen:
            slug, n = f"{base}-{n}", n + 1
        seen.add(slug)
        out.append(ClassInfo(i, name, slug))
    return out


def img_path(*parts: Any) -> str:
    """Site-relative path of a generated image: img/<part>/<part>...png (parts are slugs/ids)."""
    return "img/" + "/".join(str(p) for p in parts) + ".png"


def topk(probs: np.ndarray, k: int) -> list[tuple[int, float]]:
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order]
