"""Load or train the model: weights cached by what determines them, with their provenance.

The key covers the model config, the training config, the seed and the data hash. Shipped
weights (train.weights in atlas.toml) are used when their provenance key matches; their shapes
are checked and the test accuracy recomputed. A build whose model and data did not change does
not retrain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from . import cache as cache_mod
from .config import Config
from .data import Dataset
from .errors import ModelError
from .models import ModelSpec, Net, check_params
from .models.custom import read_weights
from .provenance import Provenance
from .train import predict, train

TRAIN_VERSION = 1


def model_parts(spec: ModelSpec) -> dict[str, Any]:
    """What identifies an architecture in a cache key: name, version, hparams, input, classes."""
    return {
        "model": spec.name,
        "model_version": spec.version,
        "model_hparams": dict(spec.hparams),
        "input_shape": list(spec.input_shape),
        "n_classes": spec.n_classes,
    }


def weights_key(cfg: Config, spec: ModelSpec, data: Dataset) -> tuple[str, dict[str, Any]]:
    train_cfg = {k: v for k, v in dataclasses.asdict(cfg.train).items() if k != "weights"}
    parts = {
        **model_parts(spec),
        "train": train_cfg,
        "train_version": TRAIN_VERSION,
        "seed": cfg.seed,
        "data": data.sha256,
    }
    return cache_mod.key(parts), parts


def params_sha256(params: Any) -> str:
    """Hash of the parameter values (path, dtype, shape, bytes of every leaf, in key order).

    Not of `to_bytes`: that differs for the same values held as jax or numpy arrays.
    """
    h = hashlib.sha256()
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        a = np.asarray(leaf)
        h.update(f"{jax.tree_util.keystr(path)}|{a.dtype}|{a.shape}|".encode() + a.tobytes())
    return h.hexdigest()


def _template(spec: ModelSpec) -> Any:
    """The parameter tree's structure to restore saved values into: traced, not run (running
    the initializers took ~0.3 s per read on a rebuild, issue 10)."""
    return spec.param_shapes()


def checked_accuracy(net: Net, data: Dataset, cache_root: Path) -> float:
    """Accuracy of `net` on `data`'s test split, remembered under `cache_root/weights/<model>/`.

    The check re-runs only when its answer could differ: the key is the weights' hash, the test
    images' hash and count, the model (name, version, hparams) and the JAX version and backend
    (issue 10: the re-check was ~1.3 s of a no-change rebuild).
    """
    parts = {
        "weights": params_sha256(net.params),
        "data": data.sha256,
        "n_test": len(data.test_x),
        "labels": hashlib.sha256(np.ascontiguousarray(data.test_y).tobytes()).hexdigest(),
        "model": net.spec.name,
        "model_version": net.spec.version,
        "model_hparams": dict(net.spec.hparams),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
    }
    k = cache_mod.key(parts)
    path = cache_root / "weights" / net.spec.name / f"{k[:16]}.accuracy"  # JSON; not a sidecar
    try:
        known = json.loads(path.read_text())
        if known.get("key") == k and isinstance(known.get("test_acc"), float):
            return known["test_acc"]
    except (OSError, ValueError):  # not checked yet (or unreadable): check again
        pass
    acc = float((predict(net, data.test_x).argmax(-1) == data.test_y).mean())
    cache_mod.atomic_write(path, json.dumps({"key": k, "test_acc": acc}).encode())
    return acc


def read_saved(path: Path, spec: ModelSpec) -> tuple[Any, dict[str, Any]]:
    side = path.with_suffix(".json")
    try:
        meta = json.loads(side.read_text())
        raw = serialization.msgpack_restore(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ModelError(
            str(path), f"cannot read the weights ({e}); delete the file to retrain"
        ) from e
    check_params(spec, raw, str(path))
    params = serialization.from_state_dict(_template(spec), raw)
    return params, meta


def _write(path: Path, params: Any, prov: Provenance) -> None:
    cache_mod.atomic_write(path, serialization.to_bytes(params))
    meta = {**dataclasses.asdict(prov), "source": "trained"}
    cache_mod.atomic_write(
        path.with_suffix(".json"), json.dumps(meta, indent=1, sort_keys=True).encode()
    )


def _given(
    path: Path, spec: ModelSpec, data: Dataset, k: str, parts: dict[str, Any]
) -> tuple[Net, Provenance]:
    """`model.weights` (issue 13): a flax msgpack file or an Orbax checkpoint directory, checked
    against the model (every mismatch listed), used as is: the pipeline does not train."""
    if not path.exists():
        raise ModelError(
            f"model.weights: {path}", "file not found; fix the path or remove model.weights"
        )
    raw = read_weights(path)
    check_params(spec, raw, f"model.weights: {path}", "export the weights of this very model")
    params = serialization.from_state_dict(_template(spec), raw)
    params = jax.tree.map(np.asarray, params)
    net = Net(params, spec)
    acc = float((predict(net, data.test_x).argmax(-1) == data.test_y).mean())
    return net, Provenance(k, parts, data.sha256, acc, [], params_sha256(params), "given")


def load_or_train(
    cfg: Config,
    spec: ModelSpec,
    data: Dataset,
    cache_root: Path,
    warn: Callable[[str], None],
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[Net, Provenance]:
    """The trained Net and where it came from."""
    k, parts = weights_key(cfg, spec, data)
    if cfg.model.weights is not None:
        return _given(cfg.model.weights, spec, data, k, parts)
    cached = cache_root / "weights" / spec.name / f"{k[:16]}.msgpack"
    for path, source in ((cfg.train.weights, "shipped"), (cached, "cache")):
        if path is None or not path.is_file():
            continue
        params, meta = read_saved(path, spec)
        if meta.get("key") != k:
            if source == "shipped":
                warn(
                    f"{path}: shipped weights were trained with another config or data; "
                    "training new ones (delete or replace the file to silence this)"
                )
            continue
        net = Net(params, spec)
        acc = checked_accuracy(net, data, cache_root)
        if abs(acc - meta["test_acc"]) > 0.005:
            warn(f"{path}: test accuracy is {acc:.4f}, its provenance says {meta['test_acc']:.4f}")
        return net, Provenance(
            k, parts, data.sha256, acc, meta["history"], params_sha256(params), source
        )
    result = train(
        spec, cfg.train, data.train_x, data.train_y, data.test_x, data.test_y, cfg.seed, progress
    )
    params = result.net.params
    prov = Provenance(
        k, parts, data.sha256, result.test_acc, result.history, params_sha256(params), "trained"
    )
    _write(cached, params, prov)
    if cfg.train.weights is not None and not cfg.train.weights.exists():
        _write(cfg.train.weights, params, prov)
    return result.net, prov
