"""Feature visualization in JAX: lucid's three axes (objectives × parameterizations ×
transforms) composed by `render`, with every unit of a layer optimized in one compiled call."""

from __future__ import annotations

from . import objectives, param, render, transform
from .objectives import Objective
from .param import Param
from .render import NAIVE, RECIPES, REGULARIZED, Recipe, Rendered, layer_renderer, render_layer

__all__ = [
    "NAIVE", "RECIPES", "REGULARIZED", "Objective", "Param", "Recipe", "Rendered",
    "layer_renderer", "objectives", "param", "render", "render_layer", "transform",
]  # fmt: skip
