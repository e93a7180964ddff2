"""TinyVGG with global average pooling before its dense layer, the structure CAM needs.

Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016, arXiv
1512.04150: convolutions → global average pooling → one dense layer, so that the class score is
y_c = Σ_k w_ck · mean_xy A_k(x, y) + b_c and the class activation map is M_c = Σ_k w_ck A_k.
As in the paper, the last pooling layer is dropped to keep the maps larger:

  conv_1_1 relu_1_1 conv_1_2 relu_1_2 pool_1 conv_2_1 relu_2_1 conv_2_2 relu_2_2 gap dense

On 28×28×1, width 10: 28→26→24→12→10→8 (8×8×10 at relu_2_2), gap → 10 features. Parameters:
conv_1_1 3·3·C·w + w, the other convs 3·3·w·w + w, dense w·n + n (2,940 for C = 1, w = n = 10).
"""

from __future__ import annotations

import flax.linen as nn

from .base import ModelSpec, Stage, global_avg_pool
from .tinyvgg import conv_blocks


def make_spec(
    input_shape: tuple[int, int, int], n_classes: int, *, width: int = 10, padding: str = "valid"
) -> ModelSpec:
    stages = conv_blocks(width, padding, pooled=(1,))
    stages.append(Stage("gap", "gap", op=global_avg_pool))
    stages.append(Stage("dense", "dense", nn.Dense(n_classes)))
    return ModelSpec(
        name="tinyvgg_gap",
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        n_classes=n_classes,
        stages=tuple(stages),
        hparams=(("width", width), ("padding", padding)),
    )
