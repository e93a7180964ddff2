"""Bounded-memory batching: the one place that splits work into equal, jit-friendly chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from . import devices


def chunk_size(bytes_per_item: int, memory_mb: int, cap: int = 4096) -> int:
    """How many items fit in `memory_mb` (at least 1, at most `cap`)."""
    return int(max(1, min(cap, (memory_mb * 2**20) // max(1, bytes_per_item))))


def map_chunks(
    fn: Callable[..., object], arrays: Iterable[np.ndarray], chunk: int
) -> list[np.ndarray] | np.ndarray:
    """Apply a batched `fn` to leading-axis chunks of `arrays` and concatenate the results.

    The last chunk is padded to `chunk` items (then trimmed), so `fn` compiles once. Chunks are
    split over all devices (see devices.py); `fn` sees the same shapes on any device count.
    `fn` returns an array or a tuple of arrays; the result has the same structure.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    chunk = devices.round_up(max(1, min(chunk, n)))
    outs: list = []
    for lo in range(0, n, chunk):
        part = [a[lo : lo + chunk] for a in arrays]
        pad = chunk - len(part[0])
        if pad:
            part = [np.concatenate([p, np.repeat(p[-1:], pad, axis=0)]) for p in part]
        res = fn(*devices.shard(part))
        res = tuple(res) if isinstance(res, tuple | list) else (res,)
        outs.append([np.asarray(r)[: chunk - pad] for r in res])
    cols = [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
    return cols if len(cols) > 1 else cols[0]
