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


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]
_listening = [False]


def compile_seconds() -> float:
    """Seconds spent tracing and compiling since the process started (0 until first asked)."""
    if not _listening[0]:
        import jax.monitoring

        def on_event(event: str, duration: float, **_: object) -> None:
            if event in _COMPILE_EVENTS:
                _compile_seconds[0] += duration

        jax.monitoring.register_event_duration_secs_listener(on_event)
        _listening[0] = True
    return _compile_seconds[0]
