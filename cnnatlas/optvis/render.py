"""Activation maximization: compose a parameterization, transforms and an objective, then run
Adam (optax) inside `lax.scan`. `layer_renderer` optimizes every unit of a layer in ONE compiled
call (vmap over unit indices).

Erhan et al. 2009 (activation maximization); Simonyan et al. 2013, arXiv 1312.6034 (class
models); Yosinski et al. 2015, arXiv 1506.06579 (DeepVis: regularized optimization); Olah et al.,
Distill 2017, "Feature Visualization" (Fourier parameterization + transformation robustness).
A Recipe is plain data (names and numbers), so it can go into a cache key as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..models import Net
from . import objectives as obj
from .loopconv import loop_friendly
from .param import PARAMS, Param
from .transform import TRANSFORMS, compose, crop


@dataclass(frozen=True)
class Recipe:
    """How to optimize an image.

    param: "pixel" or "fourier" (PARAMS); transforms: "none" or "standard" (TRANSFORMS).
    tv, l2, blur: weights of the penalties subtracted from the objective (DeepVis-style).
    """

    name: str
    param: str = "pixel"
    transforms: str = "none"
    steps: int = 256
    learning_rate: float = 0.05
    sd: float = 0.01
    decay_power: float = 1.0
    tv: float = 0.0
    l2: float = 0.0
    blur: float = 0.0

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# naive: free pixels, plain ascent (Adam, no transforms, no penalty) -> high-frequency patterns.
NAIVE = Recipe("naive")
# regularized: lucid's recipe (Fourier + standard transforms) plus a small blur penalty (DeepVis).
REGULARIZED = Recipe(
    "regularized", param="fourier", transforms="standard", decay_power=1.5, blur=0.1
)
RECIPES: dict[str, Recipe] = {"naive": NAIVE, "regularized": REGULARIZED}


class Rendered(NamedTuple):
    """image (H, W, C) in [0, 1]; value: the bare objective on it; trace (steps,): the full
    objective (with penalties, on the transformed image) before each step."""

    image: jax.Array
    value: jax.Array
    trace: jax.Array


def make_param(recipe: Recipe, shape: tuple[int, int, int]) -> Param:
    if recipe.param == "fourier":
        return PARAMS["fourier"](shape, recipe.sd, recipe.decay_power)
    return PARAMS[recipe.param](shape, recipe.sd)


def regularized(objective: obj.Objective, recipe: Recipe) -> obj.Objective:
    """The objective minus the recipe's weighted penalties."""
    for weight, penalty in (
        (recipe.tv, obj.total_variation),
        (recipe.l2, obj.l2),
        (recipe.blur, obj.blur),
    ):
        if weight:
            objective = objective - weight * penalty()
    return objective


def render(net: Net, objective: obj.Objective, recipe: Recipe, key: jax.Array) -> Rendered:
    """Maximize `objective` over one image of the net's input shape. Unbatched and jit-able."""
    net = loop_friendly(net)
    shape = net.spec.input_shape
    param = make_param(recipe, shape)
    transform = compose((*TRANSFORMS[recipe.transforms], crop(shape[0], shape[1])))
    full = regularized(objective, recipe)
    tx = optax.adam(recipe.learning_rate)
    k_init, k_steps = jax.random.split(key)
    raw = param.init(k_init)

    def loss(raw: jax.Array, k: jax.Array) -> jax.Array:
        return -full(net, transform(k, param.to_image(raw)))

    def step(carry: tuple, k: jax.Array) -> tuple[tuple, jax.Array]:
        raw, state = carry
        value, grads = jax.value_and_grad(loss)(raw, k)
        updates, state = tx.update(grads, state, raw)
        return (optax.apply_updates(raw, updates), state), -value

    (raw, _), trace = jax.lax.scan(
        step, (raw, tx.init(raw)), jax.random.split(k_steps, recipe.steps)
    )
    image = param.to_image(raw)
    return Rendered(image, objective(net, image), trace)


@cache
def layer_renderer(kind: str, layer: str, recipe: Recipe) -> Callable[..., Rendered]:
    """jit(vmap(render)) over units: fn(net, units (K,) int32, key_data (K, 2) uint32) -> Rendered
    with a leading K axis. One compiled program per (kind, layer, recipe); the net is broadcast.

    kind: an objective kind of `objectives.for_layer` ("channel", "neuron", "unit", "class_logit").
    """
    factory = obj.for_layer(kind, layer)

    def one(net: Net, k: jax.Array, kd: jax.Array) -> Rendered:
        return render(net, factory(k), recipe, jax.random.wrap_key_data(kd))

    return jax.jit(jax.vmap(one, in_axes=(None, 0, 0)))


# Rows per vmapped step inside the one whole-model call: XLA:CPU's convolutions got slower per
# image at large batches (50 rows × 64 steps: 1.8 s in groups of 5 via lax.map, 2.6 s as one vmap).
ROW_BATCH = 5


@cache
def model_renderer(
    targets: tuple[tuple[str, str], ...], recipe: Recipe, batch: int = ROW_BATCH
) -> Callable[..., Rendered]:
    """All units of all layers in ONE compiled call: fn(net, js (R,) int32 index into `targets` =
    ((kind, layer), ...), units (R,) int32, key_data (R, 2) uint32) -> Rendered with a leading R.

    Rows run `batch` at a time (lax.map over vmapped groups; rows are padded to a multiple of
    `batch`, so one program serves any R of the same padded size). Every row runs the full net
    (more work per row than `layer_renderer` for shallow layers), but one compilation replaces
    one per layer. `fn.jitted` is the compiled function on padded rows.
    """

    def one(net: Net, j: jax.Array, k: jax.Array, kd: jax.Array) -> Rendered:
        return render(net, obj.target(targets, j, k), recipe, jax.random.wrap_key_data(kd))

    @jax.jit
    def jitted(net: Net, js: jax.Array, ks: jax.Array, kd: jax.Array) -> Rendered:
        return jax.lax.map(lambda row: one(net, *row), (js, ks, kd), batch_size=batch)

    def fn(net: Net, js: Any, ks: Any, kd: Any) -> Rendered:
        rows = [np.asarray(a) for a in (js, ks, kd)]
        n, pad = len(rows[0]), -len(rows[0]) % batch
        if pad:
            rows = [np.concatenate([a, np.repeat(a[-1:], pad, axis=0)]) for a in rows]
        out = jitted(net, *rows)
        return Rendered(*(a[:n] for a in out))

    fn.jitted = jitted  # type: ignore[attr-defined]
    return fn


def unit_keys(key: jax.Array, n: int) -> jax.Array:
    """Key data (n, 2) uint32 for n units, split from one job key."""
    return jax.random.key_data(jax.random.split(key, n))


def render_layer(
    net: Net, kind: str, layer: str, units: jax.Array, recipe: Recipe, key: jax.Array
) -> Rendered:
    """All `units` of one layer in one compiled call; per-unit keys split from `key`."""
    units = jnp.asarray(units, jnp.int32)
    return layer_renderer(kind, layer, recipe)(net, units, unit_keys(key, units.shape[0]))
