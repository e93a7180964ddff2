"""Dataset readers: kept as the import path `cnnatlas.data`; the loaders live in
cnnatlas/datasets/ (issue 13: IDX, image folders, NumPy .npz)."""

from __future__ import annotations

from .datasets import DATASETS, INSTALL_HINT, Dataset, load_dataset, read_idx

__all__ = ["DATASETS", "INSTALL_HINT", "Dataset", "load_dataset", "read_idx"]
