"""The model interface every probe sees: named stages that can be run from any stage to any stage.

A `Net` is a pytree (like flax's TrainState): `params` are traced, `spec` is static. Stages are
Flax linen modules (conv, dense) or pure functions (relu, pool, flatten) with a declared `kind`;
nothing is parsed from names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ..errors import ModelError

KINDS = ("conv", "relu", "pool", "flatten", "dense")


def relu(a: jax.Array) -> jax.Array:
    return jax.nn.relu(a)


def max_pool_2x2(a: jax.Array) -> jax.Array:
    """2×2 max-pool, stride 2 (odd edges dropped), on one unbatched (h, w, c) map.

    A reshape + max rather than `reduce_window`: same values, and its gradient avoids
    XLA's select-and-scatter, which made a training step ~1.5× slower on CPU.
    """
    h, w, c = a.shape
    return a[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))


def flatten(a: jax.Array) -> jax.Array:
    return a.reshape(-1)


@dataclass(frozen=True)
class Stage:
    """One named step of the network. `module` has parameters; `op` is a parameter-free function."""

    name: str
    kind: str
    module: nn.Module | None = None
    op: Callable[[jax.Array], jax.Array] | None = None

    def apply(self, params: Any, a: jax.Array) -> jax.Array:
        if self.module is not None:
            return self.module.apply({"params": params}, a)
        assert self.op is not None
        return self.op(a)


@dataclass(frozen=True)
class ModelSpec:
    """What a model is: name, input shape (H, W, C), class count and ordered stages."""

    name: str
    input_shape: tuple[int, int, int]
    n_classes: int
    stages: tuple[Stage, ...]
    version: int = 1
    hparams: tuple[tuple[str, Any], ...] = ()

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def names_of(self, *kinds: str) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages if s.kind in kinds)

    def index(self, name: str, where: str = "layer") -> int:
        """Position of stage `name`; a ModelError lists the valid names otherwise."""
        try:
            return self.stage_names.index(name)
        except ValueError:
            raise ModelError(
                where, f"unknown layer '{name}'; expected one of {', '.join(self.stage_names)}"
            ) from None

    def stage(self, name: str) -> Stage:
        return self.stages[self.index(name)]

    def with_relu(self, fn: Callable[[jax.Array], jax.Array]) -> ModelSpec:
        """A copy whose ReLU stages compute `fn` (e.g. a custom_vjp guided ReLU); no patching."""
        return replace(
            self, stages=tuple(replace(s, op=fn) if s.kind == "relu" else s for s in self.stages)
        )

    def init(self, key: jax.Array) -> dict[str, Any]:
        """Fresh parameters {stage name: linen params}, propagated through the stages."""
        params: dict[str, Any] = {}
        a = jnp.zeros(self.input_shape, jnp.float32)
        for stage in self.stages:
            if stage.module is not None:
                key, sub = jax.random.split(key)
                params[stage.name] = stage.module.init(sub, a)["params"]
            a = stage.apply(params.get(stage.name), a)
        return params

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every stage for one unbatched input."""
        params = jax.eval_shape(self.init, jax.random.key(0))
        out, a = {}, jax.ShapeDtypeStruct(self.input_shape, jnp.float32)
        for stage in self.stages:
            a = jax.eval_shape(stage.apply, params.get(stage.name), a)
            out[stage.name] = tuple(a.shape)
        return out

    def param_counts(self) -> dict[str, int]:
        params = jax.eval_shape(self.init, jax.random.key(0))
        return {
            s.name: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params.get(s.name, {})))
            for s in self.stages
        }


class Net(struct.PyTreeNode):
    """Parameters plus static spec. `run` works on one unbatched (H, W, C) float32 input."""

    params: dict[str, Any]
    spec: ModelSpec = struct.field(pytree_node=False)

    def run(self, x: jax.Array, start: str | None = None, stop: str | None = None) -> jax.Array:
        """Run the stages after `start` (exclusive) through `stop` (inclusive).

        `start=None` begins at the input; `stop=None` ends at the logits (pre-softmax).
        Invariant (tested for every model): run(run(x, stop=L), start=L) == run(x).
        """
        spec = self.spec
        lo = 0 if start is None else spec.index(start, "start") + 1
        hi = len(spec.stages) if stop is None else spec.index(stop, "stop") + 1
        a = x
        for stage in spec.stages[lo:hi]:
            a = stage.apply(self.params.get(stage.name), a)
        return a

    def logits(self, x: jax.Array) -> jax.Array:
        return self.run(x)

    def all_stages(self, x: jax.Array) -> dict[str, jax.Array]:
        """Every stage's output for one input: {stage name: array}."""
        out, a = {}, x
        for stage in self.spec.stages:
            a = stage.apply(self.params.get(stage.name), a)
            out[stage.name] = a
        return out


def check_params(spec: ModelSpec, params: Any, where: str) -> None:
    """Compare a parameter tree with what `spec` expects; one ModelError listing every mismatch."""
    expected = jax.eval_shape(spec.init, jax.random.key(0))
    exp = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(expected)}
    try:
        got = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(params)}
    except Exception as e:
        raise ModelError(where, f"not a parameter tree ({e})") from e
    problems = []
    for name in sorted(exp.keys() | got.keys()):
        if name not in got:
            problems.append(f"{name}: missing (expected shape {tuple(exp[name].shape)})")
        elif name not in exp:
            problems.append(f"{name}: unexpected parameter")
        elif tuple(np.shape(got[name])) != tuple(exp[name].shape):
            problems.append(
                f"{name}: expected shape {tuple(exp[name].shape)}, got {tuple(np.shape(got[name]))}"
            )
        elif not np.all(np.isfinite(np.asarray(got[name]))):
            problems.append(f"{name}: contains NaN or Inf")
    if problems:
        raise ModelError(
            where,
            f"weights do not fit model '{spec.name}': "
            + "; ".join(problems)
            + " — retrain (delete the file) or fix the model config",
        )
