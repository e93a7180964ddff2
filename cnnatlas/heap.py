"""Give the C heap's free memory back to the system (issue 10: peak memory)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache


@cache
def _malloc_trim():  # glibc only; None elsewhere (musl, macOS, Windows)
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> bool:
    """Collect garbage, then return free heap pages to the system (`malloc_trim(0)`).

    The probes free hundreds of MB of buffers that glibc keeps mapped for reuse, but the site
    phase that follows allocates small objects that do not fit those holes: trimming after the
    compute phase lowered a build's peak RSS by ~100 MB (645 -> 545 MB, 100 samples computed).
    Returns whether the heap could be trimmed here."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
