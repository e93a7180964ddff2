"""Dataset registry (issue 13): DATASETS = {kind: loader(DatasetConfig) -> Dataset}.

Registry key = module = `dataset.kind`: `idx` (MNIST-style IDX files), `folder` (an image folder,
one sub-folder per class), `npz` (NumPy arrays). The dataset decides the model's input shape and
class count. Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable

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


def load_dataset(cfg: DatasetConfig) -> Dataset:
    """Load the configured dataset: train and test splits, class names, hash, recipe, warnings.

    Raises DataError (bad or missing files) or ConfigError (unknown kind).
    """
    if cfg.kind not in DATASETS:
        raise ConfigError(
            "atlas.toml: dataset.kind",
            f"unknown dataset kind '{cfg.kind}'; expected one of {', '.join(DATASETS)}",
        )
    return DATASETS[cfg.kind](cfg)
