"""IDX reader: real files, and synthesized broken ones."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cnnatlas.config import DatasetConfig
from cnnatlas.data import load_dataset, read_idx
from cnnatlas.errors import DataError


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    magic = magic if magic is not None else 0x800 + arr.ndim
    return (
        struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes()
    )


def test_reads_gz_and_raw(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x.gz").write_bytes(gzip.compress(idx_bytes(a)))
    (tmp_path / "x").write_bytes(idx_bytes(a))
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz", 3), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "x", 3), a)


def test_wrong_magic(tmp_path):
    a = np.zeros((2, 2, 2), np.uint8)
    (tmp_path / "x").write_bytes(idx_bytes(a, magic=0x0801))
    with pytest.raises(
        DataError, match=r"wrong IDX magic number; expected 0x00000803, got 0x00000801"
    ):
        read_idx(tmp_path / "x", 3)


def test_truncated(tmp_path):
    a = np.zeros((5, 2, 2), np.uint8)
    (tmp_path / "x").write_bytes(idx_bytes(a)[:-3])
    with pytest.raises(DataError, match=r"truncated.*header says \[5, 2, 2\]"):
        read_idx(tmp_path / "x", 3)


def test_missing_folder_says_what_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset(DatasetConfig(path=tmp_path / "none"))


def _write_set(folder: Path, n_classes: int) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 6)):
        x = rng.integers(0, 255, (n, 4, 4), dtype=np.uint8)
        y = (np.arange(n) % n_classes).astype(np.uint8)
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(x)))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(y)))


def test_small_dataset_loads_scaled_and_hashed(tmp_path):
    _write_set(tmp_path, 3)
    d = load_dataset(DatasetConfig(path=tmp_path, class_names=("a", "b", "c")))
    assert d.train_x.shape == (12, 4, 4, 1) and d.train_x.dtype == np.float32
    assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0
    assert d.test_y.tolist() == [0, 1, 2, 0, 1, 2]
    assert (
        d.sha256 == load_dataset(DatasetConfig(path=tmp_path, class_names=("a", "b", "c"))).sha256
    )


def test_class_names_of_wrong_length(tmp_path):
    _write_set(tmp_path, 3)
    with pytest.raises(DataError, match="the labels name 3 classes but 2 class names"):
        load_dataset(DatasetConfig(path=tmp_path, class_names=("a", "b")))
