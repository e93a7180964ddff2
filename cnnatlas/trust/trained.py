"""Extra models the sanity checks train (issue 12), with their weights cached like the atlas
model's: `<cache>/weights/<model>/<check>-<key16>.msgpack` + `.json` (key, provenance), keyed by
everything that determines them, so a rebuild loads them instead of retraining.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
from flax import serialization

from .. import cache as cache_mod
from ..models import ModelSpec, Net
from ..train import TrainResult
from ..weights import params_sha256, read_saved

VERSION = 1


def cached_net(
    cache_root: Path,
    check: str,
    parts: dict[str, Any],
    spec: ModelSpec,
    train: Callable[[], TrainResult],
    seconds: dict[str, float] | None = None,
) -> tuple[Net, dict[str, Any]]:
    """The net trained by `train()`, loaded from the cache when `parts` match.

    Args:
      check: names the file ("data_randomization", "pointing").
      parts: what determines the weights (hashed into the key; stored in the sidecar).
      seconds: when given and the net is trained (not loaded), the training time is added to
        `seconds["<check>_training"]` (the build profile's compute rows).
    Returns:
      (net, meta) with meta = {"key", "parts", "test_acc", "history", "weights_sha256"}.
    """
    k = cache_mod.key({**parts, "check": check, "version": VERSION})
    path = cache_root / "weights" / spec.name / f"{check}-{k[:16]}.msgpack"
    side = path.with_suffix(".json")
    if path.is_file() and side.is_file():
        params, meta = read_saved(path, spec)
        if meta.get("key") == k:
            return Net(params, spec), meta
    start = time.perf_counter()
    result = train()
    if seconds is not None:
        name = f"{check}_training"
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
    params = jax.device_get(result.net.params)
    meta = {
        "key": k,
        "parts": parts,
        "test_acc": result.test_acc,
        "history": result.history,
        "weights_sha256": params_sha256(params),
    }
    cache_mod.atomic_write(path, serialization.to_bytes(params))
    cache_mod.atomic_write(side, json.dumps(meta, indent=1, sort_keys=True, default=str).encode())
    return Net(params, spec), meta
