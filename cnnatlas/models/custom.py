"""Bring your own Flax model (issue 13): `[model] name = "custom"`, `entry`, `weights`.

The contract of `entry = "package.module:factory"`:

    def factory(input_shape: tuple[int, int, int], n_classes: int) -> Sequence[Stage] | ModelSpec

`input_shape` (H, W, C) and `n_classes` come from the dataset. The factory returns the network
as an ordered list of `cnnatlas.models.Stage`s (or a whole `ModelSpec`): each stage is a named
step with a `kind` (one of base.KINDS) and either a Flax linen `module` (its parameters are
`params[stage name]`) or a parameter-free `op`. The last stage must output (n_classes,) logits
(pre-softmax) for one unbatched (H, W, C) float32 image. ReLUs meant for guided backprop are
stages of kind "relu" with an `op` (or a module field `act`); batch norm modules take
`__call__(x, train=False)` and are detected as stateful from their variables.

`module` is imported from the config file's folder first, then sys.path. The weights file is the
parameter tree {stage name: linen params} as flax.serialization msgpack (`to_bytes`) or an Orbax
checkpoint directory; `cnnatlas.weights` loads it and `check_params` lists every mismatch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from ..errors import ConfigError, ModelError
from .base import KINDS, ModelSpec, Stage

WHERE = "model.entry"


def _import(entry: str, root: Path | None) -> Any:
    """The factory named by "package.module:attribute", importable from `root` or sys.path."""
    mod_name, sep, attr = entry.partition(":")
    if not sep or not mod_name or not attr:
        raise ConfigError(
            WHERE, f"expected 'package.module:factory', got {entry!r}; e.g. 'mymodel:make'"
        )
    added = root is not None and str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        where = f"{root} or sys.path" if root else "sys.path"
        raise ConfigError(
            WHERE, f"cannot import module '{mod_name}' ({e}); put {mod_name}.py in {where}"
        ) from None
    except Exception as e:  # an error inside the user's module
        raise ConfigError(
            WHERE, f"importing '{mod_name}' failed: {type(e).__name__}: {e}"
        ) from None
    finally:
        if added:
            sys.path.remove(str(root))
    fn = getattr(module, attr, None)
    if fn is None:
        names = [n for n in vars(module) if not n.startswith("_") and callable(vars(module)[n])]
        raise ConfigError(
            WHERE,
            f"module '{mod_name}' has no attribute '{attr}'; callables there: "
            f"{', '.join(names) or '(none)'}",
        )
    if not callable(fn):
        raise ConfigError(WHERE, f"'{entry}' is a {type(fn).__name__}, expected a function")
    return fn


def _stateful(stage: Stage, a: jax.ShapeDtypeStruct) -> bool:
    if stage.module is None:
        return False
    variables = jax.eval_shape(stage.module.init, jax.random.key(0), a)
    return any(k != "params" for k in variables)


def _check_stages(stages: Sequence[Any], input_shape: tuple[int, int, int]) -> tuple[Stage, ...]:
    """Stages with `stateful` set from their variables; every problem listed in one error."""
    if not stages:
        raise ModelError(WHERE, "the factory returned no stages")
    problems, out = [], []
    for i, s in enumerate(stages):
        if not isinstance(s, Stage):
            problems.append(f"item {i}: expected a cnnatlas.models.Stage, got {type(s).__name__}")
        elif s.kind not in KINDS:
            problems.append(
                f"stage '{s.name}': unknown kind '{s.kind}' (one of {', '.join(KINDS)})"
            )
        elif (s.module is None) == (s.op is None):
            problems.append(f"stage '{s.name}': give exactly one of module and op")
        else:
            out.append(s)
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"duplicate stage names: {', '.join(dupes)}")
    if problems:
        raise ModelError(WHERE, "; ".join(problems))
    fixed, a = [], jax.ShapeDtypeStruct(input_shape, jnp.float32)
    for s in out:
        try:
            s = replace(s, stateful=s.stateful or _stateful(s, a))
            variables = (
                jax.eval_shape(s.module.init, jax.random.key(0), a) if s.module is not None else {}
            )
            p = variables if s.stateful else variables.get("params")
            a = jax.eval_shape(s.apply, p, a)
        except Exception as e:
            raise ModelError(
                WHERE, f"stage '{s.name}' fails on input {tuple(a.shape)}: {type(e).__name__}: {e}"
            ) from None
        fixed.append(s)
    return tuple(fixed)


def make_spec(
    entry: str, input_shape: tuple[int, int, int], n_classes: int, root: Path | None = None
) -> ModelSpec:
    """The ModelSpec of a user's model; ConfigError / ModelError saying what is wrong."""
    if not entry:
        raise ConfigError(
            WHERE, "model.name = 'custom' needs model.entry = 'package.module:factory'"
        )
    fn = _import(entry, root)
    try:
        made = fn(tuple(input_shape), n_classes)
    except Exception as e:
        raise ModelError(WHERE, f"'{entry}' raised {type(e).__name__}: {e}") from None
    if isinstance(made, ModelSpec):
        spec = made
    elif isinstance(made, list | tuple):
        shape = tuple(input_shape)
        spec = ModelSpec("custom", shape, n_classes, tuple(made), hparams=(("entry", entry),))  # type: ignore[arg-type]
    else:
        raise ModelError(
            WHERE,
            f"'{entry}' returned a {type(made).__name__}; expected a list of "
            "cnnatlas.models.Stage or a cnnatlas.models.ModelSpec",
        )
    spec = replace(spec, stages=_check_stages(spec.stages, spec.input_shape))
    out = spec.shapes()[spec.stages[-1].name]
    if out != (n_classes,):
        raise ModelError(
            WHERE, f"the last stage outputs shape {out}, expected ({n_classes},) class logits"
        )
    return spec


def read_weights(path: Path) -> Any:
    """The raw parameter tree of a flax msgpack file or an Orbax checkpoint directory."""
    if path.is_dir():
        import orbax.checkpoint as ocp

        try:  # as NumPy arrays, with the structure the checkpoint records
            ckpt = ocp.PyTreeCheckpointer()
            meta = ckpt.metadata(path.resolve()).item_metadata
            if meta is None:  # an empty or unrelated folder: Orbax found no checkpoint metadata
                raise ModelError(
                    str(path),
                    "not an Orbax checkpoint (no checkpoint metadata in the folder); point "
                    "model.weights at the folder ocp.PyTreeCheckpointer().save wrote, or at a "
                    "flax msgpack file",
                )
            tree = meta.tree
            args = jax.tree.map(
                lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                tree,
                is_leaf=lambda v: not isinstance(v, dict),
            )
            return ckpt.restore(path.resolve(), restore_args=args)
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(str(path), f"cannot read the Orbax checkpoint ({e})") from None
    try:
        return serialization.msgpack_restore(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ModelError(
            str(path),
            f"cannot read the weights ({e}); expected flax.serialization msgpack "
            "(flax.serialization.to_bytes(params)) or an Orbax checkpoint directory",
        ) from None
