"""The Dataset every loader returns, and the pieces the loaders share (split, names, hashing)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..config import FASHION_MNIST_CLASSES, DatasetConfig
from ..errors import DataError

DARK_BORDER = 0.15


class Lazy:
    """A field that may be given as a loader (a callable with no arguments) instead of its array:
    the first read calls it and keeps the result (issue 10: a rebuild with trained weights never
    reads the 47 MB training images). A loader may offer `head(n)`: the first n items, cheaply."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_lazy_" + name

    def __get__(self, obj: object, owner: type | None = None) -> np.ndarray:
        if obj is None:  # class access: no default value (dataclasses asks)
            raise AttributeError(self.slot)
        value = obj.__dict__[self.slot]
        if callable(value):
            value = value()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: object, value: np.ndarray | Callable[[], np.ndarray]) -> None:
        obj.__dict__[self.slot] = value

    def head(self, obj: object, n: int) -> np.ndarray:
        """The first n items, without loading the rest when the loader can read just those."""
        value = obj.__dict__[self.slot]
        return value.head(n) if hasattr(value, "head") else self.__get__(obj)[:n]


_TRAIN_X = Lazy()


@dataclass(frozen=True)
class Dataset:
    """Images as float32 (N, H, W, C) in [0, 1], labels int32 (N,), and what identifies them.

    `preprocessing`: how every image was made a model input (shown on the model card and the
    sample pages); `test_sources`: per test image, where it came from (a file name) or empty;
    `warnings`: one line per skipped file, reported by the build. `train_x` may be given as a
    loader (see `Lazy`).
    """

    train_x: np.ndarray = _TRAIN_X  # type: ignore[assignment]
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]
    sha256: str  # over the images, labels, class names and recipe
    kind: str = "idx"
    name: str = ""  # shown as "trained on <name>": the dataset folder's or file's name
    preprocessing: tuple[str, ...] = ()
    test_sources: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.test_x.shape[1:])  # type: ignore[return-value]

    def first_test(self, n: int) -> Dataset:
        """This dataset with its first n test images only (`compute.test_limit`; 0: all)."""
        if not n:
            return self
        x, y, sources = self.test_x[:n], self.test_y[:n], self.test_sources[:n]
        train_x = self.__dict__[_TRAIN_X.slot]  # its loader, if not read: not read now either
        return dataclasses.replace(self, train_x=train_x, test_x=x, test_y=y, test_sources=sources)

    def without_training_split(self) -> Dataset:
        """This dataset with empty training arrays, not loading them if they were not read: what
        a build keeps once the model and every computation are done (issue 10: 188 MB of
        Fashion-MNIST training images held through the site phase of a cold build)."""
        return dataclasses.replace(
            self,
            train_x=np.zeros((0, *self.input_shape), np.float32),
            train_y=np.zeros(0, np.int32),
        )

    @property
    def dark_background(self) -> bool:
        """Whether the images show objects on a dark ground (Fashion-MNIST, MNIST): the mean of
        the border pixels of the first 1,000 training images is below DARK_BORDER. User samples
        of such a grayscale dataset are inverted when their own border is light."""
        x = _TRAIN_X.head(self, 1000)
        if not x.size:
            return False
        border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
        return float(border.mean()) < DARK_BORDER


def hash_arrays(parts: Sequence[tuple[str, np.ndarray]], class_names: Sequence[str]) -> str:
    """sha256 over named arrays (their dtype, shape and bytes) and the class names."""
    h = hashlib.sha256()
    for name, a in parts:
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode() + a.tobytes())
    h.update("\n".join(class_names).encode())
    return h.hexdigest()


def split_test(keys: Sequence[str], labels: np.ndarray, fraction: float) -> np.ndarray:
    """A deterministic test split: a boolean mask (N,), True for test items.

    Within each class the items are ordered by sha256 of their key (a file name, an index), and
    the first round(fraction × n) are test items (at least one when the class has two or more),
    so the split depends on neither file order nor machine, and adding files moves few others.
    """
    mask = np.zeros(len(keys), bool)
    if fraction <= 0:
        return mask
    digest = np.array([hashlib.sha256(k.encode()).hexdigest() for k in keys])
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[np.argsort(digest[idx], kind="stable")]
        n = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if len(idx) > 1 else 0
        mask[idx[:n]] = True
    return mask


MAX_CLASSES = 1000  # each class gets a page, a row and a column of the confusion matrix


def class_names(cfg: DatasetConfig, n_classes: int, found: Sequence[str] | None) -> tuple[str, ...]:
    """The class names: `dataset.class_names` when set (exactly `n_classes` of them), else those
    found in the data, else Fashion-MNIST's for a 10-class dataset in a folder named *fashion*,
    else "0", "1", …"""
    if not 2 <= n_classes <= MAX_CLASSES:  # e.g. ids up to 19 million: a column of other numbers
        raise DataError(
            str(cfg.path),
            f"found {n_classes} class{'' if n_classes == 1 else 'es'} ("
            + ("its class names" if found else f"labels 0 to {n_classes - 1}")
            + f"); expected 2 to {MAX_CLASSES} (labels are class ids 0, 1, 2, …, one per class)",
        )
    if cfg.class_names:
        if len(cfg.class_names) != n_classes:
            raise DataError(
                "atlas.toml: dataset.class_names",
                f"the labels name {n_classes} classes but {len(cfg.class_names)} class names are "
                f"given; list exactly {n_classes} names, in label order (or remove the key to "
                "use the dataset's own)",
            )
        return tuple(cfg.class_names)
    if found is not None:
        return tuple(found)
    if n_classes == len(FASHION_MNIST_CLASSES) and "fashion" in cfg.path.name.lower():
        return FASHION_MNIST_CLASSES
    return tuple(str(i) for i in range(n_classes))


def check_labels(y: np.ndarray, n_classes: int, where: str) -> None:
    """Labels must be integers in [0, n_classes)."""
    if y.size and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise DataError(
            where,
            f"labels must be between 0 and {n_classes - 1} (one per class name); "
            f"got values from {int(y.min())} to {int(y.max())}",
        )


def check_size(cfg: DatasetConfig, shape: tuple[int, ...], where: str) -> None:
    """`dataset.size` resizes image folders only; for arrays it must match (or be 0)."""
    if cfg.size and tuple(shape[:2]) != (cfg.size, cfg.size):
        raise DataError(
            "atlas.toml: dataset.size",
            f"{where} holds {shape[0]}×{shape[1]} images but dataset.size = {cfg.size}; only "
            "image folders are resized: remove dataset.size or set it to the data's size",
        )
