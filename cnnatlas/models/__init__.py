"""Model registry: MODELS = {name: factory(input_shape, n_classes, **hparams) -> ModelSpec}."""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import ConfigError
from . import tinyvgg
from .base import ModelSpec, Net, Stage, check_params

MODELS = {"tinyvgg": tinyvgg.make_spec}

__all__ = ["MODELS", "ModelSpec", "Net", "Stage", "check_params", "make_spec"]


def make_spec(cfg: ModelConfig, input_shape: tuple[int, int, int], n_classes: int) -> ModelSpec:
    if cfg.name not in MODELS:
        raise ConfigError(
            "atlas.toml: model.name",
            f"unknown model '{cfg.name}'; expected one of {', '.join(MODELS)}",
        )
    return MODELS[cfg.name](input_shape, n_classes, width=cfg.width, padding=cfg.padding)
