"""JAX process settings, applied once at the edge (the CLI), never inside library code."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jax

# XLA:CPU lowering choice (issue 10). jaxlib 0.10 hands convolutions and dots to YNNPACK/XNNPACK
# fusions by default; for this project's narrow convolutions (10 channels, 3×3) their weight
# gradient (a 24×24-window convolution with the batch as features) took ~45% of a training
# step. With both fusions off, XLA:CPU's own Eigen convolutions run instead: the train step went
# from ~52 to ~39 ms of CPU time (measured under load, same numbers within float tolerance), and
# IG/SmoothGrad got ~5% cheaper. `xla_cpu_*` flags are read only by the CPU compiler: GPU and
# TPU programs are unaffected.
CPU_XLA_FLAGS = (
    "--xla_cpu_experimental_ynn_fusion_type=",
    "--xla_cpu_experimental_xnn_fusion_type=",
)


def configure_cpu_lowering(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Add `CPU_XLA_FLAGS` to XLA_FLAGS; returns the flags added.

    Call before JAX runs anything (XLA reads XLA_FLAGS once, when its backend starts). A flag
    the user already set in XLA_FLAGS is left alone; jaxlib older than 0.10 (no such flags, and
    an unknown flag aborts XLA) gets none. Opt out with CNNATLAS_DEFAULT_XLA_FLAGS=1.
    """
    if environ.get("CNNATLAS_DEFAULT_XLA_FLAGS") == "1":
        return []
    try:
        major_minor = tuple(int(p) for p in version("jaxlib").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return []
    if major_minor < (0, 10):
        return []
    current = environ.get("XLA_FLAGS", "")
    added = [f for f in CPU_XLA_FLAGS if f.split("=")[0] not in current]
    if added:
        environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added


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
