"""Dataset registry (issue 13): DATASETS = {kind: loader(DatasetConfig) -> Dataset}.

Registry key = module = `dataset.kind`: `idx` (MNIST-style IDX files), `folder` (an image folder,
one sub-folder per class), `npz` (NumPy arrays). The dataset decides the model's input shape and
class count. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..config import DatasetConfig
from ..errors import ConfigError
from . import folder, idx, npz
from .base import Dataset
from .idx import INSTALL_HINT, read_idx

DATASETS: dict[str, Callable[[DatasetConfig], Dataset]] = {
    "idx": idx.load,
    "folder": folder.load,
    "npz": npz.load,
}

__all__ = ["DATASETS", "INSTALL_HINT", "Dataset", "load_dataset", "read_idx"]


def load_dataset(cfg: DatasetConfig, cache_dir: Path | None = None) -> Dataset:
    """Load the configured dataset: train and test splits, class names, hash, recipe, warnings.

    `cache_dir`: where IDX loading memoizes its hash (a rebuild then reads no training images
    unless it trains). Raises DataError (bad or missing files) or ConfigError (unknown kind).
    """
    if cfg.kind not in DATASETS:
        raise ConfigError(
            "atlas.toml: dataset.kind",
            f"unknown dataset kind '{cfg.kind}'; expected one of {', '.join(DATASETS)}",
        )
    if cfg.kind == "idx":
        return idx.load(cfg, cache_dir)
    return DATASETS[cfg.kind](cfg)
