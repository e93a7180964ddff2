"""JAX process settings, applied once at the edge (the CLI), never inside library code."""

from __future__ import annotations

from pathlib import Path

import jax


def enable_compilation_cache(folder: Path) -> None:
    """Persist compiled XLA programs under `folder`, so a rebuild does not recompile."""
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
