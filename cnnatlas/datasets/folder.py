"""`kind = "folder"`: an image folder, one sub-folder per class (ImageFolder style).

Layout (`dataset.path` = root):
- `root/<class name>/**/*.png|jpg|jpeg|bmp|gif|webp`: the images of each class; the class
  names are the folder names, sorted (label i = i-th name);
- optional `root/test/<class name>/…`: the test split ("test" is then not a class); without it,
  a deterministic `dataset.split` fraction of each class is held out (by hash of the file name);
- `root/train/<class name>/…` + `root/test/<class name>/…` works too.

Every image is decoded with Pillow, converted to grayscale or RGB (`dataset.channels`: 1, 3 or
"auto" = 1 when every image is grayscale) and resized to `dataset.size` × `dataset.size` with the
`dataset.resize` recipe (datasets/recipe.py, shared with the user's samples). A file that cannot
be used (unreadable, truncated, not an image) is skipped with one warning naming it; an empty
class folder, or no class folders at all, is an error. Files are decoded on a few threads (Pillow
releases the GIL) in a fixed order, so the result does not depend on the machine.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..config import DatasetConfig
from ..errors import DataError
from .base import Dataset, class_names, hash_arrays, split_test
from .recipe import describe, fit, is_gray, open_image

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DEFAULT_SIZE = 64  # dataset.size = 0: CNN Explainer's 64×64
_SPLITS = ("train", "test")


def _class_dirs(root: Path, skip: tuple[str, ...]) -> list[Path]:
    return sorted(
        (
            p
            for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name not in skip
        ),
        key=lambda p: p.name,
    )


def _files(folder: Path, root: Path, warnings: list[str]) -> list[Path]:
    """Image files under `folder` (recursively), sorted by relative path; others warned about."""
    out = []
    for p in sorted(folder.rglob("*"), key=lambda p: p.relative_to(folder).as_posix()):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.suffix.lower() in SUFFIXES:
            out.append(p)
        else:
            warnings.append(
                f"{_shown(p, root)}: skipped: not an image file type ({', '.join(SUFFIXES)})"
            )
    return out


def _shown(p: Path, root: Path) -> str:
    return f"{root.name}/{p.relative_to(root).as_posix()}"  # the same on every machine


def _scan(split_root: Path, root: Path, names: list[str] | None, warnings: list[str]):
    """[(file, label)] of one split; `names` None: the classes are this split's folders."""
    skip = _SPLITS if split_root == root else ()
    dirs = _class_dirs(split_root, skip)
    if names is None:
        names = [d.name for d in dirs]
        if len(names) < 2:
            raise DataError(
                str(split_root),
                f"expected at least 2 class folders (root/<class name>/*.png), found "
                f"{len(names)}{': ' + names[0] if names else ''}",
            )
    else:
        unknown = [d.name for d in dirs if d.name not in names]
        if unknown:
            raise DataError(
                str(split_root),
                f"test class folders {', '.join(unknown)} have no training folder; "
                f"expected some of {', '.join(names)}",
            )
    items = []
    for d in dirs:
        files = _files(d, root, warnings)
        if not files:
            raise DataError(
                str(d),
                f"class folder '{d.name}' holds no image files ({', '.join(SUFFIXES)}); "
                "add images or remove the folder",
            )
        items.extend((f, names.index(d.name)) for f in files)
    return items, names


def _decode(files: list[Path], channels: int, size: int, recipe: str):
    """[(uint8 (size, size, channels) or None, reason)] in the order of `files`."""

    def one(path: Path) -> tuple[np.ndarray | None, str]:
        try:
            im, _ = open_image(path, channels)
            a = np.asarray(fit(im, (size, size), recipe), np.uint8)
        except ValueError as e:
            return None, str(e)
        return (a[..., None] if a.ndim == 2 else a), ""

    workers = min(8, os.cpu_count() or 1, max(1, len(files) // 64))
    if workers == 1:
        return [one(p) for p in files]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, files, chunksize=32))


def _channels(cfg: DatasetConfig, files: list[Path]) -> int:
    if cfg.channels != "auto":
        return int(cfg.channels)
    for p in files:
        try:
            if not is_gray(p):
                return 3
        except ValueError:
            continue  # skipped (with its warning) when decoded
    return 1


def load(cfg: DatasetConfig) -> Dataset:
    """Read, check, convert and split the image folder `cfg.path`."""
    root = cfg.path
    if not root.is_dir():
        raise DataError(
            str(root), "image folder not found; set dataset.path to a folder of class folders"
        )
    warnings: list[str] = []
    train_root = root / "train" if (root / "train").is_dir() else root
    train, names = _scan(train_root, root, None, warnings)
    test: list = []
    if (root / "test").is_dir():
        test, _ = _scan(root / "test", root, names, warnings)
    files = [f for f, _ in train + test]
    channels = _channels(cfg, files)
    size = cfg.size or DEFAULT_SIZE
    decoded = _decode(files, channels, size, cfg.resize)
    xs, ys, keys, is_test = [], [], [], []
    for i, ((path, label), (a, reason)) in enumerate(zip(train + test, decoded, strict=True)):
        if a is None:
            warnings.append(f"{_shown(path, root)}: skipped: {reason}")
            continue
        xs.append(a)
        ys.append(label)
        keys.append(path.relative_to(root).as_posix())
        is_test.append(i >= len(train))
    y = np.asarray(ys, np.int32)
    empty = [n for c, n in enumerate(names) if not np.any(y == c)]
    if empty:
        raise DataError(
            str(root),
            f"no usable image in class folder(s) {', '.join(empty)} (see the warnings); "
            "add readable images",
        )
    x = np.stack(xs) if xs else np.zeros((0, size, size, channels), np.uint8)
    mask = np.asarray(is_test, bool)
    if test:
        how = f"the images in {root.name}/test/"
    else:
        mask = split_test(keys, y, cfg.split)
        how = f"{cfg.split:.0%} of each class held out (by hash of the file name)"
    if not mask.any():
        raise DataError(
            str(root),
            f"no test images: add a test/ folder or set dataset.split above 0 (got {cfg.split})",
        )
    names = list(class_names(cfg, len(names), names))
    recipe = describe((size, size), cfg.resize)
    sources = tuple(k for k, t in zip(keys, mask, strict=True) if t)
    return Dataset(
        train_x=x[~mask].astype(np.float32) / 255.0,
        train_y=y[~mask],
        test_x=x[mask].astype(np.float32) / 255.0,
        test_y=y[mask],
        class_names=tuple(names),
        sha256=hash_arrays(
            [("x", x), ("y", y), ("test", mask), ("keys", np.asarray(keys, str))],
            [*names, recipe],
        ),
        kind="folder",
        name=root.name,
        preprocessing=(
            "read with Pillow, " + ("grayscale" if channels == 1 else "RGB"),
            recipe,
            "0–255 scaled to [0, 1]",
            f"test split: {how}",
        ),
        test_sources=sources,
        warnings=tuple(warnings),
    )
