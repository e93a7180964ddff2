"""The fixed sample set: stable test-set picks per class plus the user's own images.

User images (PNG/JPEG/GIF/WebP in content/samples/) are converted the way the model's data
looks, and every step is recorded so the page can show it. A bad file is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .data import Dataset
from .datasets.recipe import MAX_PIXELS, describe, fit, open_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
__all__ = ["MAX_PIXELS", "Sample", "convert_image", "pick_test_samples", "user_samples"]


@dataclass(frozen=True)
class Sample:
    """One image of the sample set. x is (H, W, C) float32 in [0, 1]."""

    id: str
    x: np.ndarray
    label: int | None  # None: a user image with no known class
    source: str  # "test set #123" or the file name
    preprocessing: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """SHA-256 of the float32 pixels, computed once (a rebuild asks ~15k times)."""
        known = self.__dict__.get("_sha256")
        if known is None:
            known = hashlib.sha256(self.x.astype(np.float32).tobytes()).hexdigest()
            self.__dict__["_sha256"] = known  # frozen dataclass: not through __setattr__
        return known


def slugify(text: str) -> str:
    """ASCII, lowercase, [a-z0-9-]; never empty and never a path."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def pick_test_samples(data: Dataset, per_class: int) -> list[Sample]:
    """The first `per_class` test images of every class, in test-set order: stable ids."""
    picks: list[int] = []
    for c in range(len(data.class_names)):
        picks.extend(np.flatnonzero(data.test_y == c)[:per_class].tolist())
    sources = getattr(data, "test_sources", ())  # file names (image folders) or none
    return [
        Sample(
            f"test-{i:05d}",
            data.test_x[i],
            int(data.test_y[i]),
            f"test set #{i}" + (f" ({sources[i]})" if sources else ""),
            getattr(data, "preprocessing", ()) if sources else (),
        )
        for i in sorted(picks)
    ]


def convert_image(
    path: Path, shape: tuple[int, int, int], recipe: str = "pad", match_background: bool = True
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read an image file and convert it to the model's input; returns (x, steps).

    The dataset's resize `recipe` (datasets/recipe.py, the one implementation); with
    `match_background` (datasets of light objects on black, like Fashion-MNIST) an image with a
    light border is inverted first. Raises ValueError with a reader-facing reason for files that
    cannot be used.
    """
    h, w, c = shape
    im, read = open_image(path, c)
    steps = list(read)
    arr = np.asarray(im, np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if match_background and border.mean() > 0.5:  # the training data: light on dark
        arr = 1.0 - arr
        steps.append("inverted (light background, the model was trained on dark ones)")
    im = Image.fromarray(np.round((arr[..., 0] if c == 1 else arr) * 255).astype(np.uint8))
    im = fit(im, (h, w), recipe)
    steps.append(describe((h, w), recipe))
    x = np.asarray(im, np.float32) / 255.0
    return (x[..., None] if x.ndim == 2 else x), tuple(steps)


def user_samples(
    folder: Path,
    shape: tuple[int, int, int],
    warn: Callable[[str], None],
    recipe: str = "pad",
    match_background: bool = True,
) -> list[Sample]:
    """Every image directly in `folder`, sorted by name; unusable files warn and are skipped.

    Converted like the dataset: its resize `recipe`; `match_background` as in convert_image.
    """
    if not folder.is_dir():
        return []
    out: list[Sample] = []
    seen: set[str] = set()
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        shown = f"{folder.name}/{path.name}"  # the same on every machine
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            warn(f"{shown}: skipped: not an image file type ({', '.join(IMAGE_SUFFIXES)})")
            continue
        try:
            x, steps = convert_image(path, shape, recipe, match_background)
        except ValueError as e:
            warn(f"{shown}: skipped: {e}")
            continue
        base = "user-" + slugify(path.stem)
        sid, n = base, 2
        while sid in seen:  # names that differ only in case or punctuation stay distinct
            sid, n = f"{base}-{n}", n + 1
        seen.add(sid)
        out.append(Sample(sid, x, None, path.name, steps))
    return out
