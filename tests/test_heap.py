"""heap.release_free_memory (issue 10): freed C-heap memory goes back to the system."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cnnatlas import heap


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(
    heap._malloc_trim() is None or not Path("/proc/self/statm").exists(),
    reason="needs glibc and /proc",
)
def test_freed_heap_memory_is_returned():
    # Many small buffers (below glibc's mmap threshold: they live in the heap), all freed but the
    # last one, which pins the top of the heap so that free() alone cannot shrink it.
    held = [np.ones(2000, np.float64) for _ in range(30_000)]  # 16 KB each, ~470 MB
    keep = held[-1]
    del held
    before = _rss_mb()
    assert heap.release_free_memory()
    after = _rss_mb()
    assert keep.sum() == 2000
    assert before - after > 250, f"RSS {before:.0f} -> {after:.0f} MB"


def test_compute_context_releases_programs_only_after_computing(tmp_path, tiny_net):
    """ComputeContext.release_memory drops JAX's compiled programs once something was computed
    since the last call, and keeps them (a rebuild's) otherwise."""
    import jax
    import jax.numpy as jnp

    from cnnatlas.cache import Cache
    from cnnatlas.compute import ComputeContext

    ctx = ComputeContext(Cache(tmp_path), tiny_net, "w" * 64, 0, 64)
    f = jax.jit(lambda x: x * 2)
    f(jnp.ones(3))
    assert f._cache_size() == 1
    assert not ctx.release_memory() and f._cache_size() == 1  # nothing computed: kept
    ctx.count("saliency", 2, 0)
    assert ctx.release_memory() and f._cache_size() == 0  # computed: dropped
    f(jnp.ones(3))
    ctx.count("saliency", 0, 5)  # only cache hits since
    assert not ctx.release_memory() and f._cache_size() == 1
