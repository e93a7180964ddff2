"""Dataset readers: IDX files (MNIST, Fashion-MNIST) into NumPy arrays with content hashes.

Nothing is downloaded: the default dataset comes from Debian's `dataset-fashion-mnist`.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DatasetConfig
from .errors import DataError

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


@dataclass(frozen=True)
class Dataset:
    """Images as float32 (N, H, W, C) in [0, 1], labels int32 (N,), and what identifies them."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: tuple[str, ...]
    sha256: str  # over the raw bytes of all files, in a fixed order

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.test_x.shape[1:])  # type: ignore[return-value]


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


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Load the configured dataset (train and test splits) and hash it."""
    if not cfg.path.is_dir():
        raise DataError(str(cfg.path), f"dataset folder not found; {INSTALL_HINT}")
    files = {k: _find(cfg.path, v) for k, v in _IDX_FILES.items()}
    h = hashlib.sha256()
    arrays = {}
    for key, path in files.items():
        arr = read_idx(path, 3 if key.endswith("x") else 1)
        h.update(key.encode() + arr.tobytes())
        arrays[key] = arr
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if len(x) != len(y):
            raise DataError(str(files[f"{split}_y"]), f"{len(y)} labels for {len(x)} images")
    n_classes = int(max(arrays["train_y"].max(), arrays["test_y"].max())) + 1
    if n_classes != len(cfg.class_names):
        raise DataError(
            "atlas.toml: dataset.class_names",
            f"the labels name {n_classes} classes but {len(cfg.class_names)} class names are "
            f"given; list exactly {n_classes} names, in label order",
        )
    h.update("\n".join(cfg.class_names).encode())

    def images(a: np.ndarray) -> np.ndarray:
        return (a.astype(np.float32) / 255.0)[..., None]

    return Dataset(
        train_x=images(arrays["train_x"]),
        train_y=arrays["train_y"].astype(np.int32),
        test_x=images(arrays["test_x"]),
        test_y=arrays["test_y"].astype(np.int32),
        class_names=cfg.class_names,
        sha256=h.hexdigest(),
    )
