"""`kind = "idx"`: MNIST-style IDX files (MNIST, Fashion-MNIST), gzipped or raw.

Nothing is downloaded: the default dataset comes from Debian's `dataset-fashion-mnist`.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from ..config import DatasetConfig
from ..errors import DataError
from .base import Dataset, check_labels, check_size, class_names

_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned-byte labels (rank 1), images (rank 3)
INSTALL_HINT = (
    "install it with `apt-get install -y dataset-fashion-mnist` (as root), "
    "or set dataset.path in atlas.toml to a folder with the four IDX files"
)


def read_idx(path: Path, rank: int) -> np.ndarray:
    """Read one IDX file (optionally gzipped) of unsigned bytes; check magic and sizes.

    Returns a uint8 array of `rank` dimensions. Raises DataError naming the file on any mismatch.
    """
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(str(path), f"cannot read the file ({e}); {INSTALL_HINT}") from e
    if len(raw) < 4 + 4 * rank:
        raise DataError(str(path), f"file too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != _MAGIC[rank]:
        raise DataError(
            str(path), f"wrong IDX magic number; expected 0x{_MAGIC[rank]:08x}, got 0x{magic:08x}"
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    expected = 4 + 4 * rank + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(
            str(path),
            f"truncated or oversized IDX file; header says {dims} "
            f"({expected} bytes), got {len(raw)} bytes",
        )
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    raise DataError(str(folder / (stem + ".gz")), f"dataset file not found; {INSTALL_HINT}")


def _sha256(arrays: dict[str, np.ndarray], names: tuple[str, ...]) -> str:
    """The hash of atlas v0 (kept so that shipped weights keep matching their provenance)."""
    h = hashlib.sha256()
    for key in _IDX_FILES:
        h.update(key.encode() + arrays[key].tobytes())
    h.update("\n".join(names).encode())
    return h.hexdigest()


def load(cfg: DatasetConfig) -> Dataset:
    """Read the four IDX files in `cfg.path` (train and test splits), check and hash them."""
    if not cfg.path.is_dir():
        raise DataError(str(cfg.path), f"dataset folder not found; {INSTALL_HINT}")
    if cfg.channels not in ("auto", 1):
        raise DataError(
            "atlas.toml: dataset.channels",
            f"IDX images are grayscale (1 channel), got channels = {cfg.channels}; "
            "remove the key or set it to 1",
        )
    files = {k: _find(cfg.path, v) for k, v in _IDX_FILES.items()}
    arrays = {key: read_idx(path, 3 if key.endswith("x") else 1) for key, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if len(x) != len(y):
            raise DataError(str(files[f"{split}_y"]), f"{len(y)} labels for {len(x)} images")
    check_size(cfg, arrays["test_x"].shape[1:], str(cfg.path))
    n_classes = int(max(arrays["train_y"].max(), arrays["test_y"].max())) + 1
    names = class_names(cfg, n_classes, None)
    for key in ("train_y", "test_y"):
        check_labels(arrays[key], len(names), str(files[key]))

    def images(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0)[..., None]

    return Dataset(
        train_x=images(arrays["train_x"]),
        train_y=arrays["train_y"].astype(np.int32),
        test_x=images(arrays["test_x"]),
        test_y=arrays["test_y"].astype(np.int32),
        class_names=names,
        sha256=_sha256(arrays, names),
        kind="idx",
        name=cfg.path.name,
        preprocessing=("IDX bytes 0–255 scaled to [0, 1]",),
    )
