"""A bring-your-own model for cnnatlas (README: "Bring your own model").

`make` is the entry point named in atlas.toml (`entry = "mynet:make"`): it gets the dataset's
input shape (H, W, C) and class count and returns the network as a list of named stages, each
a Flax linen module (with parameters) or a parameter-free function, with its kind.
"""

from __future__ import annotations

import flax.linen as nn

from cnnatlas.models import Stage
from cnnatlas.models.base import flatten, max_pool_2x2, relu


def make(input_shape: tuple[int, int, int], n_classes: int) -> list[Stage]:
    del input_shape  # the convolutions work on any size; dense adapts at init
    return [
        Stage("conv_a", "conv", nn.Conv(8, (5, 5), padding="SAME")),
        Stage("relu_a", "relu", op=relu),
        Stage("pool_a", "pool", op=max_pool_2x2),
        Stage("conv_b", "conv", nn.Conv(16, (3, 3), padding="SAME")),
        Stage("relu_b", "relu", op=relu),
        Stage("pool_b", "pool", op=max_pool_2x2),
        Stage("flatten", "flatten", op=flatten),
        Stage("dense", "dense", nn.Dense(n_classes)),
    ]
