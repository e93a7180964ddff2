"""Bounded-memory batching: the one place that splits work into equal, jit-friendly chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from . import devices


def chunk_size(bytes_per_item: int, memory_mb: int, cap: int = 4096) -> int:
    """How many items fit in `memory_mb` (at least 1, at most `cap`)."""
    return int(max(1, min(cap, (memory_mb * 2**20) // max(1, bytes_per_item))))


# Samples per batched call for per-sample artifacts (activations, attribution maps, randomized
# maps): these are cached one sample at a time, and a later build computes only the missing ones,
# so a call's batch size must not depend on how many are missing. XLA:CPU's convolutions block,
# and hence round, by batch size: a sample's Grad-CAM map differed by ~6e-11 between a batch of
# 3 and one of 16, and a rebuild after an interrupted build was not byte-identical to a cold one.
# 16 keeps the padding of small sample sets (the last call) cheap.
SAMPLE_CHUNK = 16


def sample_chunk(*limits: int) -> int:
    """The fixed batch of per-sample calls: SAMPLE_CHUNK, or less where `limits` say so (a
    probe's `call_chunk`, the memory budget's `chunk_size`), rounded up to the device count."""
    return devices.round_up(max(1, min(SAMPLE_CHUNK, *limits)))


def map_chunks(
    fn: Callable[..., object], arrays: Iterable[np.ndarray], chunk: int, *, shrink: bool = True
) -> list[np.ndarray] | np.ndarray:
    """Apply a batched `fn` to leading-axis chunks of `arrays` and concatenate the results.

    The last chunk is padded to `chunk` items (then trimmed), so `fn` compiles once. Chunks are
    split over all devices (see devices.py); `fn` sees the same shapes on any device count.
    `fn` returns an array or a tuple of arrays; the result has the same structure. With `shrink`
    a chunk larger than the item count becomes that count (one call, no padding); pass False
    where an item's result must not depend on how many items are computed (SAMPLE_CHUNK).
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    chunk = devices.round_up(max(1, min(chunk, n) if shrink else chunk))
    outs: list = []
    pending = None  # (results, items) of the chunk still running
    for lo in range(0, n, chunk):
        part = [a[lo : lo + chunk] for a in arrays]
        pad = chunk - len(part[0])
        if pad:
            part = [np.concatenate([p, np.repeat(p[-1:], pad, axis=0)]) for p in part]
        res = fn(*devices.shard(part))
        # one chunk in flight: JAX dispatches asynchronously, so the next chunk is sliced and
        # dispatched while this one computes; its results are read after that (3-7 % per map
        # for SmoothGrad and integrated gradients on a 2-core CPU), and at most two chunks'
        # results are held on the device
        if pending is not None:
            outs.append(_fetch(*pending))
        pending = (tuple(res) if isinstance(res, tuple | list) else (res,)), chunk - pad
    if pending is not None:
        outs.append(_fetch(*pending))
    cols = [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
    return cols if len(cols) > 1 else cols[0]


def _fetch(results: tuple, items: int) -> list[np.ndarray]:
    """A chunk's results as NumPy arrays (waiting for them), without its padding."""
    return [np.asarray(r)[:items] for r in results]
