"""Model registry: MODELS = {name: factory(input_shape, n_classes, **hparams) -> ModelSpec}.

Registry key = module name = `model.name`; "custom" (bring your own, models/custom.py) is the
one that reads `model.entry` instead.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ModelConfig
from ..errors import ConfigError
from . import custom, resnet_small, tinyvgg, tinyvgg64, tinyvgg_gap
from .base import ModelSpec, Net, Stage, check_params

MODELS = {
    "tinyvgg": tinyvgg.make_spec,
    "tinyvgg64": tinyvgg64.make_spec,
    "tinyvgg_gap": tinyvgg_gap.make_spec,
    "resnet_small": resnet_small.make_spec,
}

__all__ = ["MODELS", "ModelSpec", "Net", "Stage", "check_params", "make_spec"]


def make_spec(
    cfg: ModelConfig,
    input_shape: tuple[int, int, int],
    n_classes: int,
    root: Path | None = None,
) -> ModelSpec:
    """The model named by `cfg`; `root` (the config file's folder) is where `entry` imports."""
    if cfg.name == "custom":
        return custom.make_spec(cfg.entry, input_shape, n_classes, root)
    if cfg.entry:
        raise ConfigError(
            "atlas.toml: model.entry", "model.entry is only read with model.name = 'custom'"
        )
    if cfg.name not in MODELS:
        raise ConfigError(
            "atlas.toml: model.name",
            f"unknown model '{cfg.name}'; expected one of {', '.join([*MODELS, 'custom'])}",
        )
    return MODELS[cfg.name](input_shape, n_classes, width=cfg.width, padding=cfg.padding)
