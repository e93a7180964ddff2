"""`kind = "npz"`: one NumPy .npz file (`dataset.path`).

Keys: `x` images (N, H, W) or (N, H, W, C) with C = 1 or 3, uint8 (0–255) or float (0–1);
`y` integer labels (N,); optional `class_names` (strings, one per class, in label order);
optional `x_test` / `y_test` (else a deterministic `dataset.split` fraction of x is the test set).
Loaded without pickle.
"""

from __future__ import annotations

import zipfile

import numpy as np

from ..config import DatasetConfig
from ..errors import DataError
from .base import Dataset, check_labels, check_size, class_names, hash_arrays, split_test

KEYS = ("x", "y", "class_names", "x_test", "y_test")


def _images(a: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W[, C]) uint8 or float -> float32 (N, H, W, C) in [0, 1]; clear errors otherwise."""
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3) or min(a.shape[1:3], default=0) < 1:
        raise DataError(
            where,
            f"expected images of shape (N, H, W) or (N, H, W, C) with C = 1 or 3, got {a.shape}",
        )
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if not np.issubdtype(a.dtype, np.floating):
        raise DataError(where, f"expected uint8 (0–255) or float (0–1) images, got dtype {a.dtype}")
    a = a.astype(np.float32)
    finite = np.isfinite(a)
    if a.size and not (finite.all() and a.min() >= 0.0 and a.max() <= 1.0):
        got = (  # nanmin of an all-NaN array would print numpy's RuntimeWarning
            f"{a.size - int(finite.sum())} values that are nan or inf"
            if not finite.all()
            else f"values from {a.min():g} to {a.max():g}"
        )
        raise DataError(
            where,
            f"float images must be finite and in [0, 1], got {got}; divide uint8 data by 255 "
            "or store it as uint8",
        )
    return a


def _labels(a: np.ndarray, n: int, where: str) -> np.ndarray:
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise DataError(where, f"expected integer labels of shape ({n},), got {a.dtype} {a.shape}")
    if len(a) != n:
        raise DataError(where, f"expected one label per image ({n}), got {len(a)}")
    if a.size and a.min() < 0:
        raise DataError(where, f"labels are class ids 0, 1, 2, …; got {int(a.min())}")
    return a.astype(np.int32)


def load(cfg: DatasetConfig) -> Dataset:
    """Read, check and split the arrays of `cfg.path`."""
    path = cfg.path
    if not path.is_file():
        raise DataError(str(path), "dataset file not found; set dataset.path to an .npz file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(
            str(path), f"not a readable .npz file ({e}); save it with numpy.savez (no pickles)"
        ) from None
    unknown = sorted(set(arrays) - set(KEYS))
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing or unknown:
        raise DataError(
            str(path),
            f"expected keys x, y and optionally class_names, x_test, y_test; "
            f"missing: {', '.join(missing) or 'none'}; unknown: {', '.join(unknown) or 'none'}",
        )
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataError(str(path), "x_test and y_test must be given together")
    x = _images(arrays["x"], f"{path}: x")
    y = _labels(arrays["y"], len(x), f"{path}: y")
    found = None
    if "class_names" in arrays:
        cn = arrays["class_names"]
        if cn.ndim != 1 or cn.dtype.kind not in "US" or not len(cn):
            raise DataError(
                f"{path}: class_names",
                f"expected a 1-D array of strings, got {cn.dtype} {cn.shape}",
            )
        found = [str(s.decode() if isinstance(s, bytes) else s) for s in cn]
        if len(set(found)) != len(found) or any(not s.strip() for s in found):
            raise DataError(f"{path}: class_names", "class names must be non-empty and unique")
    ys = [a for k, a in arrays.items() if k in ("y", "y_test") and a.size]
    n_classes = len(found) if found else max(int(a.max()) for a in ys) + 1 if ys else 0
    names = class_names(cfg, n_classes, found)
    check_labels(y, len(names), f"{path}: y")
    if "x_test" in arrays:
        test_x = _images(arrays["x_test"], f"{path}: x_test")
        test_y = _labels(arrays["y_test"], len(test_x), f"{path}: y_test")
        check_labels(test_y, len(names), f"{path}: y_test")
        if test_x.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{path}: x_test",
                f"expected images like x, {x.shape[1:]}, got {test_x.shape[1:]}",
            )
        train_x, train_y, how = x, y, "x_test / y_test"
    else:
        test = split_test([str(i) for i in range(len(x))], y, cfg.split)
        train_x, train_y, test_x, test_y = x[~test], y[~test], x[test], y[test]
        how = f"{cfg.split:.0%} of each class held out (by hash of the index)"
    if not len(train_x) or not len(test_x):
        raise DataError(
            str(path),
            f"expected images in both splits, got {len(train_x)} training and {len(test_x)} "
            "test images; add images, x_test / y_test, or change dataset.split",
        )
    if cfg.channels not in ("auto", x.shape[-1]):
        raise DataError(
            "atlas.toml: dataset.channels",
            f"{path} holds {x.shape[-1]}-channel images, got channels = {cfg.channels}; only "
            "image folders are converted: remove the key or set it to the data's channels",
        )
    check_size(cfg, x.shape[1:], str(path))
    kept = [(k, arrays[k]) for k in KEYS if k in arrays and k != "class_names"]
    return Dataset(
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=names,
        sha256=hash_arrays([*kept, ("split", np.float64(cfg.split))], names),
        kind="npz",
        name=path.name,
        preprocessing=(
            "uint8 0–255 scaled to [0, 1]" if arrays["x"].dtype == np.uint8 else "float [0, 1]",
            f"test split: {how}",
        ),
    )
