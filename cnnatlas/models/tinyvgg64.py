"""CNN Explainer's exact TinyVGG (Wang et al., IEEE VIS 2020, arXiv 2004.15004): 64×64×3 RGB.

Same stages and names as `tinyvgg` (10 filters, 3×3 valid convolutions, conv-relu-conv-relu-pool
twice, flatten, dense), with the input fixed at 64×64×3: 64→62→60→30→28→26→13, 13·13·10 = 1,690
features. Parameters with 10 classes (checked in tests/test_zoo.py):
  conv_1_1 3·3·3·10 + 10 = 280; conv_1_2, conv_2_1, conv_2_2 3·3·10·10 + 10 = 910 each;
  dense 1,690·10 + 10 = 16,910; total 280 + 3·910 + 16,910 = 19,920.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError
from . import tinyvgg
from .base import ModelSpec

INPUT_SHAPE = (64, 64, 3)


def make_spec(
    input_shape: tuple[int, int, int], n_classes: int, *, width: int = 10, padding: str = "valid"
) -> ModelSpec:
    if tuple(input_shape) != INPUT_SHAPE:
        raise ConfigError(
            "model.name",
            f"model 'tinyvgg64' takes 64×64×3 images, the dataset gives "
            f"{'×'.join(map(str, input_shape))}; resize the dataset to 64×64 RGB "
            "or use model.name = 'tinyvgg' (any input size)",
        )
    if (width, padding) != (10, "valid"):
        raise ConfigError(
            "model",
            f"model 'tinyvgg64' is CNN Explainer's exact network (width 10, valid padding), got "
            f"width {width}, padding '{padding}'; remove model.width / model.padding "
            "or use model.name = 'tinyvgg'",
        )
    return replace(tinyvgg.make_spec(INPUT_SHAPE, n_classes), name="tinyvgg64")
