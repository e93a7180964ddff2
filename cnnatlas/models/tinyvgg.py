"""TinyVGG as in CNN Explainer (Wang et al., IEEE VIS 2020, arXiv 2004.15004), for any input.

Two blocks of (conv 3×3 → ReLU → conv 3×3 → ReLU → max-pool 2×2), flatten, dense. With the
default width 10 and valid padding on 28×28×1: 28→26→24→12→10→8→4, 4·4·10 = 160 features.
"""

from __future__ import annotations

import flax.linen as nn

from .base import ModelSpec, Stage, flatten, max_pool_2x2, relu


def conv_blocks(width: int, padding: str, pooled: tuple[int, ...] = (1, 2)) -> list[Stage]:
    """The two (conv → ReLU → conv → ReLU [→ max-pool]) blocks; block b pools if b in pooled."""
    pad = padding.upper()
    stages: list[Stage] = []
    for block in (1, 2):
        for i in (1, 2):
            stages.append(Stage(f"conv_{block}_{i}", "conv", nn.Conv(width, (3, 3), padding=pad)))
            stages.append(Stage(f"relu_{block}_{i}", "relu", op=relu))
        if block in pooled:
            stages.append(Stage(f"pool_{block}", "pool", op=max_pool_2x2))
    return stages


def make_spec(
    input_shape: tuple[int, int, int], n_classes: int, *, width: int = 10, padding: str = "valid"
) -> ModelSpec:
    stages = conv_blocks(width, padding)
    stages.append(Stage("flatten", "flatten", op=flatten))
    stages.append(Stage("dense", "dense", nn.Dense(n_classes)))
    return ModelSpec(
        name="tinyvgg",
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        n_classes=n_classes,
        stages=tuple(stages),
        hparams=(("width", width), ("padding", padding)),
    )
