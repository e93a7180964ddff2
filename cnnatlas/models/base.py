"""The model interface every probe sees: named stages that can be run from any stage to any stage.

A `Net` is a pytree (like flax's TrainState): `params` are traced, `spec` is static. Stages are
Flax linen modules (conv, dense, norm, block) or pure functions (relu, pool, flatten, gap) with a
declared `kind`; nothing is parsed from names.

Batch norm (issue 13): a `stateful` stage keeps its whole flax variable dict in the parameter
tree, `params[stage] = {"params": ..., "batch_stats": ...}`, so that weights files, parameter
checks and every probe see one tree. Probes always run it in inference mode (running averages);
only `train_forward` runs it in training mode (`mutable=["batch_stats"]`, batch statistics
shared across the vmapped batch through the axis name `BATCH_AXIS`).
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

KINDS = ("conv", "relu", "pool", "flatten", "dense", "norm", "block", "gap")
BATCH_AXIS = "batch"  # vmap axis name over which training-mode batch norm averages


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


def global_avg_pool(a: jax.Array) -> jax.Array:
    """(h, w, c) -> (c): the mean of each channel over space (Lin et al. 2013, arXiv 1312.4400)."""
    return a.mean(axis=(0, 1))


@dataclass(frozen=True)
class Stage:
    """One named step of the network. `module` has parameters; `op` is a parameter-free function.

    `stateful`: the module has other collections than "params" (batch norm's "batch_stats");
    its `__call__(x, train=False)` takes a `train` flag, and its parameter entry is the whole
    variable dict. A module with a field `act` (its inner ReLUs) gets it swapped by `with_relu`.
    """

    name: str
    kind: str
    module: nn.Module | None = None
    op: Callable[[jax.Array], jax.Array] | None = None
    stateful: bool = False

    def apply(self, params: Any, a: jax.Array) -> jax.Array:
        """Inference mode (batch norm with its running averages)."""
        if self.module is not None:
            return self.module.apply(params if self.stateful else {"params": params}, a)
        assert self.op is not None
        return self.op(a)

    def apply_train(self, params: Any, a: jax.Array) -> tuple[jax.Array, Any]:
        """Training mode, inside a vmap named BATCH_AXIS: (output, updated variables or None)."""
        if not self.stateful:
            return self.apply(params, a), None
        assert self.module is not None
        out, new = self.module.apply(params, a, train=True, mutable=["batch_stats"])
        return out, {**params, **new}


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
        """A copy whose ReLU stages compute `fn` (e.g. a custom_vjp guided ReLU); no patching.

        ReLUs inside a module (a residual block) are the module's field `act`: swapped too.
        """

        def swap(s: Stage) -> Stage:
            if s.kind == "relu":
                return replace(s, op=fn)
            if s.module is not None and hasattr(s.module, "act"):
                return replace(s, module=s.module.clone(act=fn))
            return s

        return replace(self, stages=tuple(swap(s) for s in self.stages))

    def cam_layers(self) -> tuple[str, str] | None:
        """(feature map stage, dense stage) when the model ends in [.., maps, gap, dense]: the
        structure CAM needs (Zhou et al. 2016); None otherwise."""
        st = self.stages
        if len(st) >= 3 and st[-1].kind == "dense" and st[-2].kind == "gap":
            return st[-3].name, st[-1].name
        return None

    def init(self, key: jax.Array) -> dict[str, Any]:
        """Fresh parameters {stage name: linen params}, propagated through the stages.

        Run op by op this is ~100 small programs (~3.7 s of a training run's start): training
        calls `jax.jit(spec.init)` (same values; ~2.8 s, ~0 s from the persistent compilation
        cache). Left unjitted here: `param_shapes` traces it abstractly, which jit slowed."""
        params: dict[str, Any] = {}
        a = jnp.zeros(self.input_shape, jnp.float32)
        for stage in self.stages:
            if stage.module is not None:
                key, sub = jax.random.split(key)
                variables = stage.module.init(sub, a)
                params[stage.name] = dict(variables) if stage.stateful else variables["params"]
            a = stage.apply(params.get(stage.name), a)
        return params

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Output shape of every stage for one unbatched input.

        Traced once per spec (~0.1 s, and a build asked ~15 times: issue 10); the spec is
        frozen, so the result is kept on the instance (a copy is returned).
        """
        known = self.__dict__.get("_shapes")
        if known is None:
            params = self.param_shapes()
            known, a = {}, jax.ShapeDtypeStruct(self.input_shape, jnp.float32)
            for stage in self.stages:
                a = jax.eval_shape(stage.apply, params.get(stage.name), a)
                known[stage.name] = tuple(a.shape)
            self.__dict__["_shapes"] = known  # frozen dataclass: not through __setattr__
        return dict(known)

    def param_shapes(self) -> dict[str, Any]:
        """`jax.eval_shape(self.init, key)`: the parameter tree as ShapeDtypeStructs (any key
        gives the same). Traced once per spec (~0.05 s, and a rebuild asked 9 times: issue 10),
        kept on the instance like `shapes`; a fresh copy of the tree is returned."""
        known = self.__dict__.get("_param_shapes")
        if known is None:
            known = jax.eval_shape(self.init, jax.random.key(0))
            self.__dict__["_param_shapes"] = known  # frozen dataclass: not through __setattr__
        return jax.tree.map(lambda s: s, known)

    def param_counts(self) -> dict[str, int]:
        """Trainable parameters per stage (batch norm's running statistics not counted)."""
        params = self.param_shapes()

        def trainable(s: Stage) -> Any:
            p = params.get(s.name, {})
            return p.get("params", {}) if s.stateful else p

        return {
            s.name: sum(int(np.prod(p.shape)) for p in jax.tree.leaves(trainable(s)))
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


def train_forward(params: dict[str, Any], spec: ModelSpec, xs: jax.Array) -> tuple[jax.Array, Any]:
    """Logits (B, n_classes) of a batch xs (B, H, W, C) in training mode, and the new batch norm
    statistics {stage: batch_stats} (empty for a model without batch norm); see `with_stats`."""
    if not any(s.stateful for s in spec.stages):
        return jax.vmap(Net(params, spec).run)(xs), {}

    def one(x: jax.Array) -> tuple[jax.Array, dict[str, Any]]:
        a, stats = x, {}
        for stage in spec.stages:
            a, upd = stage.apply_train(params.get(stage.name), a)
            if upd is not None:
                stats[stage.name] = upd["batch_stats"]
        return a, stats

    logits, stats = jax.vmap(one, axis_name=BATCH_AXIS)(xs)
    # the statistics are means over the whole batch, identical in every vmapped row
    return logits, jax.tree.map(lambda v: v[0], stats)


def with_stats(params: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    """`params` with each stateful stage's "batch_stats" replaced by `stats[stage]`.

    Their gradients are exactly zero in training mode (the output uses the batch's own
    statistics), so the optimizer leaves them alone and this is their only update.
    """
    return {k: ({**v, "batch_stats": stats[k]} if k in stats else v) for k, v in params.items()}


def check_params(
    spec: ModelSpec,
    params: Any,
    where: str,
    fix: str = "retrain (delete the file) or fix the model config",
) -> None:
    """Compare a parameter tree with what `spec` expects (names, shapes, dtypes, finite values);
    one ModelError listing every mismatch, with its path, and `fix`."""
    expected = spec.param_shapes()
    exp = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(expected)}
    try:
        got = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(params)}
    except Exception as e:
        raise ModelError(where, f"not a parameter tree ({e})") from e
    problems = []
    for name in sorted(exp.keys() | got.keys()):
        if name not in got:
            problems.append(
                f"{name}: missing (expected shape {tuple(exp[name].shape)}, {exp[name].dtype})"
            )
        elif name not in exp:
            problems.append(f"{name}: unexpected parameter (shape {tuple(np.shape(got[name]))})")
        elif tuple(np.shape(got[name])) != tuple(exp[name].shape):
            problems.append(
                f"{name}: expected shape {tuple(exp[name].shape)}, got {tuple(np.shape(got[name]))}"
            )
        elif np.asarray(got[name]).dtype != exp[name].dtype:
            problems.append(
                f"{name}: expected dtype {exp[name].dtype}, got {np.asarray(got[name]).dtype}"
            )
        elif not np.all(np.isfinite(np.asarray(got[name]))):
            problems.append(f"{name}: contains NaN or Inf")
    if problems:
        raise ModelError(
            where,
            f"weights do not fit model '{spec.name}': " + "; ".join(problems) + f" — {fix}",
        )
