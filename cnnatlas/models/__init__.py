"""Model registry: MODELS = {name: factory(input_shape, n_classes, **hparams) -> ModelSpec}.

Registry key = module name = `model.name`; "custom" (bring your own, models/custom.py) is the
one that reads `model.entry` instead.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..config import ModelConfig
from ..errors import ConfigError, ModelError
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
    make = partial(MODELS[cfg.name], n_classes=n_classes, width=cfg.width, padding=cfg.padding)
    spec = make(input_shape)
    if not _fits(spec):  # e.g. 3×3 images through TinyVGG: its stages shrink them to nothing
        h, w, c = input_shape
        side = next((s for s in range(max(h, w) + 1, 513) if _fits(make((s, s, c)))), None)
        raise ModelError(
            "atlas.toml: model.name",
            f"{cfg.name} (padding {cfg.padding}) cannot take {h}×{w} images: its convolutions "
            "and poolings shrink them to nothing"
            + (f"; it needs at least {side}×{side}" if side else "")
            + " (image folders: set dataset.size; arrays: store larger images)",
        )
    return spec


def _fits(spec: ModelSpec) -> bool:
    """Whether every stage's output is non-empty (shape inference fails on what is not)."""
    try:
        return all(0 not in shape for shape in spec.shapes().values())
    except (ValueError, TypeError, ZeroDivisionError):
        return False
