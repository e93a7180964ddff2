"""The fixed sample set: stable test-set picks per class plus the user's own images.

User images (PNG/JPEG/GIF/WebP in content/samples/) are converted the way the model's data
looks, and every step is recorded so the page can show it. A bad file is skipped with a warning.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .data import Dataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
MAX_PIXELS = 40_000_000  # refuse larger images (decompression bombs) before decoding them


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
        return hashlib.sha256(self.x.astype(np.float32).tobytes()).hexdigest()


def slugify(text: str) -> str:
    """ASCII, lowercase, [a-z0-9-]; never empty and never a path."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def pick_test_samples(data: Dataset, per_class: int) -> list[Sample]:
    """The first `per_class` test images of every class, in test-set order: stable ids."""
    picks: list[int] = []
    for c in range(len(data.class_names)):
        picks.extend(np.flatnonzero(data.test_y == c)[:per_class].tolist())
    return [
        Sample(f"test-{i:05d}", data.test_x[i], int(data.test_y[i]), f"test set #{i}")
        for i in sorted(picks)
    ]


def convert_image(path: Path, shape: tuple[int, int, int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read an image file and convert it to the model's input; returns (x, steps).

    Raises ValueError with a reader-facing reason for files that cannot be used.
    """
    h, w, c = shape
    steps: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(
                        f"image is {im.width}×{im.height}: more than {MAX_PIXELS:,} pixels; "
                        "scale it down first"
                    )
                steps.append(f"read {im.format} {im.width}×{im.height} {im.mode}")
                if getattr(im, "n_frames", 1) > 1:
                    im.seek(0)
                    steps.append(f"first frame of {im.n_frames}")
                im.load()
                if im.getexif().get(0x0112, 1) != 1:  # EXIF orientation tag
                    im = ImageOps.exif_transpose(im)
                    steps.append("rotated by its EXIF orientation")
                if im.mode in ("RGBA", "LA", "PA") or (
                    im.mode == "P" and "transparency" in im.info
                ):
                    im = im.convert("RGBA")
                    bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
                    im = Image.alpha_composite(bg, im)
                    steps.append("transparent pixels composited on black")
                im = im.convert("L" if c == 1 else "RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(
                f"image has more than {MAX_PIXELS:,} pixels (a possible decompression bomb); "
                "scale it down first"
            ) from None
        except UnidentifiedImageError as e:
            raise ValueError(f"not a readable image ({e})") from None
        except (OSError, SyntaxError, EOFError) as e:
            raise ValueError(f"truncated or corrupt image ({e})") from None
    arr = np.asarray(im, np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    steps.append("grayscale" if c == 1 else "RGB")
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    if border.mean() > 0.5:  # the training data shows light objects on a dark background
        arr = 1.0 - arr
        steps.append("inverted (light background, the model was trained on dark ones)")
    im = Image.fromarray(np.round((arr[..., 0] if c == 1 else arr) * 255).astype(np.uint8))
    im = ImageOps.contain(im, (w, h), Image.Resampling.LANCZOS)
    canvas = Image.new(im.mode, (w, h), 0)
    canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
    steps.append(f"fitted into {w}×{h} (aspect kept, Lanczos), padded with black")
    x = np.asarray(canvas, np.float32) / 255.0
    return (x[..., None] if x.ndim == 2 else x), tuple(steps)


def user_samples(
    folder: Path, shape: tuple[int, int, int], warn: Callable[[str], None]
) -> list[Sample]:
    """Every image directly in `folder`, sorted by name; unusable files warn and are skipped."""
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
            x, steps = convert_image(path, shape)
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
