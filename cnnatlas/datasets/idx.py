"""`kind = "idx"`: MNIST-style IDX files (MNIST, Fashion-MNIST), gzipped or raw.

Nothing is downloaded: the default dataset comes from Debian's `dataset-fashion-mnist`.

Rebuilds (issue 10) skip most of the reading: the dataset hash is memoized in the cache folder
under the four files' stat (path, size, mtime_ns, ctime_ns, inode; a write changes ctime, which
cannot be set back) and the class names, and on a memo hit the training images (47 MB, ~0.3 s
to decompress and convert) are read only if something uses them (training).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..cache import atomic_write
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


MEMO_DIR = "datasets"  # <cache>/datasets/idx-<hash of the folder>.json
_MEMO_VERSION = 1


def _stats(files: dict[str, Path]) -> dict[str, list]:
    out = {}
    for key, path in files.items():
        st = path.stat()
        out[key] = [os.fsdecode(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        out[key].append(st.st_ino)
    return out


def _memo_path(cache_dir: Path, folder: Path) -> Path:
    name = hashlib.sha256(os.fsencode(folder.resolve())).hexdigest()[:16]
    return Path(cache_dir) / MEMO_DIR / f"idx-{name}.json"


def _images(a: np.ndarray) -> np.ndarray:  # the same float32 values as a / 255, in one pass
    return np.divide(a, np.float32(255.0), dtype=np.float32)[..., None]


class _TrainImages:
    """Loader of the training images for `Dataset.train_x` (see base.Lazy): refuses a file that
    changed since its hash was memoized."""

    def __init__(self, path: Path, stat: list) -> None:
        self.path, self.stat = path, stat

    def _check(self) -> None:
        if _stats({"train_x": self.path})["train_x"] != self.stat:
            raise DataError(str(self.path), "the file changed during the build; build again")

    def __call__(self) -> np.ndarray:
        x = read_idx(self.path, 3)
        self._check()
        return _images(x)

    def head(self, n: int) -> np.ndarray:
        """The first n images (the header and n × H × W bytes: decompressed from the start)."""
        with open(self.path, "rb") as f:
            opener = gzip.open if f.read(2) == b"\x1f\x8b" else open
        with opener(self.path, "rb") as f:
            header = f.read(16)
            dims = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(3)]
            n = min(n, dims[0])
            raw = f.read(n * dims[1] * dims[2])
        self._check()
        return _images(np.frombuffer(raw, np.uint8).reshape(n, dims[1], dims[2]))


def load(cfg: DatasetConfig, cache_dir: Path | None = None) -> Dataset:
    """Read the four IDX files in `cfg.path` (train and test splits), check and hash them.

    With `cache_dir`, the hash is memoized there (if the folder exists: a build refused for its
    config leaves no cache folder behind) and, on a hit, `train_x` is loaded lazily.
    """
    if not cfg.path.is_dir():
        raise DataError(str(cfg.path), f"dataset folder not found; {INSTALL_HINT}")
    if cfg.channels not in ("auto", 1):
        raise DataError(
            "atlas.toml: dataset.channels",
            f"IDX images are grayscale (1 channel), got channels = {cfg.channels}; "
            "remove the key or set it to 1",
        )
    files = {k: _find(cfg.path, v) for k, v in _IDX_FILES.items()}
    stats = _stats(files)
    memo_file = _memo_path(cache_dir, cfg.path) if cache_dir is not None else None
    memo = _read_memo(memo_file)
    hit = memo is not None and memo["files"] == stats  # the same four files as when hashed
    arrays = {
        key: read_idx(path, 3 if key.endswith("x") else 1)
        for key, path in files.items()
        if not (hit and key == "train_x")
    }
    for split in ("train", "test") if not hit else ("test",):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if len(x) != len(y):
            raise DataError(str(files[f"{split}_y"]), f"{len(y)} labels for {len(x)} images")
    check_size(cfg, arrays["test_x"].shape[1:], str(cfg.path))
    n_classes = int(max(arrays["train_y"].max(), arrays["test_y"].max())) + 1
    names = class_names(cfg, n_classes, None)
    for key in ("train_y", "test_y"):
        check_labels(arrays[key], len(names), str(files[key]))
    if hit and memo is not None and memo["names"] == list(names):
        sha256, train_x = memo["sha256"], _TrainImages(files["train_x"], stats["train_x"])
    else:
        if hit:  # other class names: the hash covers them; read the images after all
            arrays["train_x"] = read_idx(files["train_x"], 3)
        sha256, train_x = _sha256(arrays, names), _images(arrays["train_x"])
        if memo_file is not None and Path(cache_dir).is_dir():  # a refused build makes no cache
            doc = {"version": _MEMO_VERSION, "files": stats, "names": list(names), "sha256": sha256}
            atomic_write(memo_file, json.dumps(doc, sort_keys=True).encode())
    return Dataset(
        train_x=train_x,  # type: ignore[arg-type]  (a loader on a memo hit: base.Lazy)
        train_y=arrays["train_y"].astype(np.int32),
        test_x=_images(arrays["test_x"]),
        test_y=arrays["test_y"].astype(np.int32),
        class_names=names,
        sha256=sha256,
        kind="idx",
        name=cfg.path.name,
        preprocessing=("IDX bytes 0–255 scaled to [0, 1]",),
    )


def _read_memo(path: Path | None) -> dict | None:
    """The memo at `path`, or None if there is none or it is unreadable (then it is rewritten)."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    ok = isinstance(doc, dict) and doc.get("version") == _MEMO_VERSION
    keys = ("files", "names", "sha256")
    return doc if ok and all(k in doc for k in keys) and isinstance(doc["sha256"], str) else None
