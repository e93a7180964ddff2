"""A small residual network with batch norm (He et al., CVPR 2016, arXiv 1512.03385).

Shows that the pipeline is not VGG-specific: a stage may be a whole residual block.

  conv_stem bn_stem relu_stem block_1 relu_1 block_2 relu_2 block_3 relu_3 gap dense

`block_i` is a basic block, bn(conv3×3(act(bn(conv3×3(x))))) + shortcut(x), its output taken
before the ReLU that follows it; the shortcut is the identity, or a strided 1×1 conv + bn when
the shape changes. Widths w, 2w, 4w (w = model.width), strides 1, 2, 2: 28×28 → 28, 14, 7.
Grad-CAM, activations and unit maps work at every block output; `gap` → `dense` makes CAM apply.

ReLUs: those between blocks are ordinary `relu` stages. The one inside each block is the
block's field `act` (default jax.nn.relu); `ModelSpec.with_relu` swaps it as well, so guided
backpropagation and deconvnet override every ReLU of the network, not only the visible ones.

Batch norm: inference mode (running averages) everywhere except `train_forward` (see base.py).

Parameters (convs without bias, bn = scale + bias; C input channels, n classes):
  stem 9·C·w + 2w; block_1 2·(9w² + 2w); block_2 9·w·2w + 9·(2w)² + 2w² + 3·4w;
  block_3 9·2w·4w + 9·(4w)² + 8w² + 3·8w; dense 4w·n + n  (30,720 for C = 1, w = n = 10).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import flax.linen as nn
import jax

from .base import BATCH_AXIS, ModelSpec, Stage, global_avg_pool, relu

MOMENTUM = 0.9  # of the running averages; flax's 0.99 barely moves in a short training run


def _norm(train: bool) -> nn.BatchNorm:
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=MOMENTUM,
        axis_name=BATCH_AXIS if train else None,
    )


class Norm(nn.Module):
    """Batch norm as a stage of its own (the stem's)."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return _norm(train)(x)


class BasicBlock(nn.Module):
    """(h, w, c_in) -> (h/stride, w/stride, features), before the final ReLU."""

    features: int
    stride: int = 1
    act: Callable[[jax.Array], jax.Array] = jax.nn.relu

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        conv = partial(nn.Conv, self.features, use_bias=False)
        s = (self.stride, self.stride)
        y = self.act(_norm(train)(conv((3, 3), s, padding=1)(x)))
        y = _norm(train)(conv((3, 3), padding=1)(y))
        if self.stride != 1 or x.shape[-1] != self.features:
            x = _norm(train)(conv((1, 1), s, padding="VALID")(x))
        return y + x

    def geometry(self) -> tuple[int, int, int]:
        """(kernel, stride, padding) of the two 3×3 convs composed, for receptive fields:
        k = 3 + 2·stride, padding 1 + stride (the 1×1 shortcut sees less)."""
        return 3 + 2 * self.stride, self.stride, 1 + self.stride


def make_spec(
    input_shape: tuple[int, int, int], n_classes: int, *, width: int = 10, padding: str = "valid"
) -> ModelSpec:
    del padding  # residual blocks pad to keep sizes
    stages = [
        Stage(
            "conv_stem", "conv", nn.Conv(width, (3, 3), padding=((1, 1), (1, 1)), use_bias=False)
        ),
        Stage("bn_stem", "norm", Norm(), stateful=True),
        Stage("relu_stem", "relu", op=relu),
    ]
    for i, (mult, stride) in enumerate(((1, 1), (2, 2), (4, 2)), start=1):
        stages.append(Stage(f"block_{i}", "block", BasicBlock(width * mult, stride), stateful=True))
        stages.append(Stage(f"relu_{i}", "relu", op=relu))
    stages.append(Stage("gap", "gap", op=global_avg_pool))
    stages.append(Stage("dense", "dense", nn.Dense(n_classes)))
    return ModelSpec(
        name="resnet_small",
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        n_classes=n_classes,
        stages=tuple(stages),
        hparams=(("width", width),),
    )
