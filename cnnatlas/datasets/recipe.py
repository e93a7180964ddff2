"""Image files -> model inputs: the one implementation of reading and of the resize recipes.

Used by the image-folder dataset (every training and test image) and by the user's own samples
(content/samples/), so both are converted the same way and the steps can be shown on the pages.

Recipes (`dataset.resize`), for a target of h×w pixels:
- `shorter-side+center-crop`: scale so the shorter side fits (aspect kept), crop the centre
  (torchvision's Resize(size) + CenterCrop(size), the usual ImageNet evaluation recipe);
- `stretch`: scale each axis independently to h×w (aspect not kept);
- `pad`: scale so the longer side fits (aspect kept), centre on a black canvas.
Resampling is Lanczos (Pillow), which low-pass filters when shrinking.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

RECIPES = ("shorter-side+center-crop", "stretch", "pad")
MAX_PIXELS = 40_000_000  # refuse larger images (decompression bombs) before decoding them
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
_RESAMPLE = Image.Resampling.LANCZOS


def is_gray(path: Path) -> bool:
    """Whether the file is a grayscale image (by its header; nothing decoded). Raises ValueError."""
    try:
        with Image.open(path) as im:
            return im.mode in GRAY_MODES
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError):
        raise ValueError("not a readable image") from None


def open_image(path: Path, channels: int) -> tuple[Image.Image, tuple[str, ...]]:
    """Decode an image file into mode "L" (channels 1) or "RGB" (channels 3); returns it and the
    steps taken (first frame, EXIF rotation, alpha on black, colour conversion).

    Raises ValueError with a reader-facing reason for files that cannot be used.
    """
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
                im = im.convert("L" if channels == 1 else "RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(
                f"image has more than {MAX_PIXELS:,} pixels (a possible decompression bomb); "
                "scale it down first"
            ) from None
        except UnidentifiedImageError:  # its message holds the absolute path: not shown
            raise ValueError("not a readable image (no known image format)") from None
        except (OSError, SyntaxError, EOFError) as e:
            raise ValueError(f"truncated or corrupt image ({e})") from None
    steps.append("grayscale" if channels == 1 else "RGB")
    return im, tuple(steps)


def fit(im: Image.Image, size: tuple[int, int], recipe: str) -> Image.Image:
    """Resize `im` to `size` = (h, w) with one of RECIPES (see the module docstring)."""
    h, w = size
    if im.size == (w, h):
        return im
    if recipe == "stretch":
        return im.resize((w, h), _RESAMPLE)
    if recipe == "pad":
        im = ImageOps.contain(im, (w, h), _RESAMPLE)
        canvas = Image.new(im.mode, (w, h), 0)
        canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
        return canvas
    if recipe != "shorter-side+center-crop":
        raise ValueError(f"unknown resize recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
    scale = max(w / im.width, h / im.height)
    sw, sh = max(w, round(im.width * scale)), max(h, round(im.height * scale))
    if (sw, sh) != im.size:
        im = im.resize((sw, sh), _RESAMPLE)
    left, top = (sw - w) // 2, (sh - h) // 2
    return im.crop((left, top, left + w, top + h))


def describe(size: tuple[int, int], recipe: str) -> str:
    """The recipe in words, as shown on the model card and the sample pages."""
    h, w = size
    return {
        "shorter-side+center-crop": f"shorter side scaled to {min(h, w)} (aspect kept, Lanczos), "
        f"centre {w}×{h} cropped",
        "stretch": f"stretched to {w}×{h} (aspect not kept, Lanczos)",
        "pad": f"fitted into {w}×{h} (aspect kept, Lanczos), padded with black",
    }[recipe]
