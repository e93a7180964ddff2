"""Data parallelism over every visible device with `jax.sharding`: one Mesh over the batch axis.

With one device these are no-ops, so there is no code path specific to a device count; on a
GPU/TPU host, or a CPU run with XLA_FLAGS=--xla_force_host_platform_device_count=N, batches are
split across devices and parameters replicated, and XLA inserts the collectives.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


@cache
def mesh() -> Mesh:
    return Mesh(np.array(jax.devices()), ("batch",))


def count() -> int:
    return len(jax.devices())


def round_up(n: int) -> int:
    """`n` rounded up to a multiple of the device count (so batches split evenly)."""
    d = count()
    return -(-n // d) * d


def shard(x: Any, axis: int = 0) -> Any:
    """Place arrays split along `axis` (the batch) over all devices; no-op on one device."""
    if count() == 1:
        return x
    spec = P(*([None] * axis), "batch")
    return jax.device_put(x, NamedSharding(mesh(), spec))


def replicate(tree: Any) -> Any:
    """Place a pytree (parameters, a Net) on every device; no-op on one device."""
    if count() == 1:
        return tree
    return jax.device_put(tree, NamedSharding(mesh(), P()))
