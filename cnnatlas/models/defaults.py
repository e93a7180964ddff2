"""Layer defaults that name TinyVGG stages, adapted to the chosen model (issue 13).

`[maps] layers` and the probes' default `layers` (gradcam: conv_1_1 … conv_2_2) name TinyVGG's
stages. When the user did not set them and the model lacks those stages, they become the
model's own: its conv / block outputs (several layers) or its last spatial stage (one layer).
Layers the user wrote are never changed (unknown ones are refused as before).
"""

from __future__ import annotations

import dataclasses

from ..config import Config, LayoutConfig
from .base import ModelSpec


def _spatial(spec: ModelSpec) -> tuple[str, ...]:
    return tuple(n for n, s in spec.shapes().items() if len(s) == 3)


def adapt(cfg: Config, spec: ModelSpec) -> Config:
    """`cfg` with defaulted layer lists that do not fit `spec` replaced by ones that do."""
    from ..probes import PROBES  # the probes import the models

    spatial = _spatial(spec)
    if not spatial:
        return cfg
    last = spatial[-1]
    several = [n for n in spatial if spec.stage(n).kind in ("conv", "block")] or [last]
    names = set(spec.stage_names) | {"input"}
    maps = cfg.maps
    if maps.layers == LayoutConfig().layers and not set(maps.layers) <= names:
        maps = dataclasses.replace(maps, layers=("input", last, spec.stage_names[-1]))
    probes = dict(cfg.probes)
    for name, hp in cfg.probes.items():
        default = PROBES[name].defaults.get("layers") if name in PROBES else None
        if default is None or "layers" in hp or set(default) <= set(spatial):
            continue
        probes[name] = {**hp, "layers": several if len(default) > 1 else [last]}
    return dataclasses.replace(cfg, maps=maps, probes=probes)
