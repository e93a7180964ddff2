"""Objectives for feature visualization: `(net, img) -> scalar` to maximize, with algebra.

After lucid's `optvis/objectives.py` (Olah et al., "Feature Visualization", Distill 2017): an
Objective wraps a function of the network and one unbatched (H, W, C) image. `+`, `-`, unary `-`
and scalar `*` build new objectives, so "channel 3 minus channel 5" is
`channel("conv_2_1", 3) - channel("conv_2_1", 5)` and Simonyan et al.'s class model
visualization (arXiv 1312.6034) is `class_logit(c) - 1e-2 * l2()`. A unit index may be a traced
int32, so one objective factory serves a whole layer under `vmap`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ..models import Net

Fn = Callable[[Net, jax.Array], jax.Array]


def _fmt(k: object) -> str:
    return str(k) if isinstance(k, int) else "k"


@dataclass(frozen=True)
class Objective:
    """A scalar to maximize: `objective(net, img)`; img is (H, W, C) float32 in [0, 1]."""

    fn: Fn
    name: str

    def __call__(self, net: Net, img: jax.Array) -> jax.Array:
        return self.fn(net, img)

    def __add__(self, other: Objective | float) -> Objective:
        o = _lift(other)
        return Objective(lambda n, x: self(n, x) + o(n, x), f"{self.name} + {o.name}")

    def __radd__(self, other: Objective | float) -> Objective:  # sum([...]) starts at 0
        return _lift(other) + self

    def __neg__(self) -> Objective:
        return Objective(lambda n, x: -self(n, x), f"-({self.name})")

    def __sub__(self, other: Objective | float) -> Objective:
        return self + (-_lift(other))

    def __rsub__(self, other: Objective | float) -> Objective:
        return _lift(other) + (-self)

    def __mul__(self, c: float) -> Objective:
        if isinstance(c, Objective):
            raise TypeError("objectives multiply by numbers only; add them instead")
        return Objective(lambda n, x: c * self(n, x), f"{c:g} * {self.name}")

    __rmul__ = __mul__


def _lift(v: Objective | float) -> Objective:
    if isinstance(v, Objective):
        return v
    return Objective(lambda n, x: jnp.float32(v), f"{v:g}")


def channel_value(a: jax.Array, k: int | jax.Array) -> jax.Array:
    """Mean over positions of channel k of a stage output a (h, w, K)."""
    return a[..., k].mean()


def neuron_value(
    a: jax.Array, k: int | jax.Array, y: int | None = None, x: int | None = None
) -> jax.Array:
    """Channel k at (y, x) of a (h, w, K); default the centre position (h // 2, w // 2)."""
    h, w = a.shape[:2]
    return a[h // 2 if y is None else y, w // 2 if x is None else x, k]


def unit_value(a: jax.Array, k: int | jax.Array) -> jax.Array:
    """Unit k of a vector stage output a (K,)."""
    return a[k]


# objective kind -> value of a stage output; the single definition used by both the Objective
# factories below and the whole-model renderer (which computes all stages once).
STAGE_VALUES = {
    "channel": channel_value,
    "neuron": neuron_value,
    "unit": unit_value,
    "class_logit": unit_value,
}


def channel(layer: str, k: int | jax.Array) -> Objective:
    """Mean over space of channel `k` of a spatial stage (h, w, K): lucid's `channel`."""
    return Objective(
        lambda n, x: channel_value(n.run(x, stop=layer), k), f"channel({layer}, {_fmt(k)})"
    )


def neuron(layer: str, k: int | jax.Array, y: int | None = None, x: int | None = None) -> Objective:
    """One position (default: the centre) of channel `k` of a spatial stage: lucid's `neuron`."""
    return Objective(
        lambda n, img: neuron_value(n.run(img, stop=layer), k, y, x), f"neuron({layer}, {_fmt(k)})"
    )


def unit(layer: str, k: int | jax.Array) -> Objective:
    """Unit `k` of a vector stage (dense, flatten)."""
    return Objective(lambda n, x: unit_value(n.run(x, stop=layer), k), f"unit({layer}, {_fmt(k)})")


def class_logit(k: int | jax.Array) -> Objective:
    """The pre-softmax logit of class `k` (Simonyan et al. 2013, arXiv 1312.6034)."""
    return Objective(lambda n, x: unit_value(n.run(x), k), f"class_logit({_fmt(k)})")


def target(targets: tuple[tuple[str, str], ...], j: jax.Array, k: jax.Array) -> Objective:
    """Unit k of target j, one of `targets` = ((kind, layer), ...), from ONE forward pass.

    All stages are computed once and the value is picked by j, so under vmap rows of different
    layers share one program and the gradient takes a single backward pass.
    """

    def fn(n: Net, x: jax.Array) -> jax.Array:
        stages = n.all_stages(x)
        values = [STAGE_VALUES[kind](stages[layer], k) for kind, layer in targets]
        return jnp.stack(values)[j]

    return Objective(fn, "target")


def total_variation() -> Objective:
    """Mean absolute difference of neighbouring pixels (a penalty: subtract it)."""

    def fn(n: Net, x: jax.Array) -> jax.Array:
        del n
        return jnp.abs(x[1:] - x[:-1]).mean() + jnp.abs(x[:, 1:] - x[:, :-1]).mean()

    return Objective(fn, "total_variation")


def l2(constant: float = 0.5) -> Objective:
    """Mean squared distance from a constant image (a penalty: subtract it)."""
    return Objective(lambda n, x: jnp.square(x - constant).mean(), "l2")


def blur3(x: jax.Array) -> jax.Array:
    """3×3 binomial blur of an (H, W, C) image with edge padding; same shape."""
    p = jnp.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    w = x.shape[1]
    rows = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4
    return (rows[:, :w] + 2 * rows[:, 1 : w + 1] + rows[:, 2:]) / 4


def blur() -> Objective:
    """Distance to the image's own blur, gradient through the image only (lucid's
    `blur_input_each_step`; DeepVis blurs every few steps). A penalty: subtract it."""
    return Objective(lambda n, x: jnp.square(x - jax.lax.stop_gradient(blur3(x))).mean(), "blur")


def for_layer(kind: str, layer: str) -> Callable[[jax.Array], Objective]:
    """The objective factory `unit index -> Objective` of one kind for one layer.

    kind: "channel" or "neuron" (spatial stages), "unit" (vector stages), "class_logit".
    """
    factories = {
        "channel": lambda k: channel(layer, k),
        "neuron": lambda k: neuron(layer, k),
        "unit": lambda k: unit(layer, k),
        "class_logit": class_logit,
    }
    if kind not in factories:
        raise ValueError(f"unknown objective kind {kind!r}; expected one of {', '.join(factories)}")
    return factories[kind]
