"""JAX process settings, applied once at the edge (the CLI), never inside library code."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# JAX is not imported here (issue 10): a rebuild that only re-renders pages never imports it
# (~1.3 s). Settings made before JAX is imported go through the environment variables JAX reads
# when it is imported; after that, through jax.config.

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
# Byte-identical output on GPUs too. XLA:GPU autotunes its convolution algorithms when it
# compiles, and the fastest one measured can differ from one compilation to the next (rounding
# differs with it): on an H200 two cold builds of tests/tiny.toml in one process (JAX's caches
# are cleared after computing) drew different activation images, i.e. trained other weights;
# with this flag they were identical. It turns autotuning off and excludes nondeterministic ops
# (atomics); `xla_gpu_*` flags are ignored by the CPU compiler.
GPU_XLA_FLAGS = ("--xla_gpu_deterministic_ops=true",)


def configure_xla_flags(
    environ: MutableMapping[str, str] = os.environ,
    flags: tuple[str, ...] = CPU_XLA_FLAGS + GPU_XLA_FLAGS,
) -> list[str]:
    """Add `flags` (default: the CPU and GPU ones above) to XLA_FLAGS; returns the flags added.

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
    added = [f for f in flags if f.split("=")[0] not in current]
    if added:
        environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added


def configure_precision(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Float32 matrix products and convolutions at full float32 precision; True if set here.

    On GPUs since Ampere, JAX's default precision lets float32 convolutions run as TF32 (10-bit
    mantissa). On an H200 that moved integrated gradients' maps by up to 4.5 % of their largest
    value and SmoothGrad's by 1.9 % (the other methods by < 0.1 %): large next to the 1 %
    completeness tolerance of the tests, and unlike the CPU's maps. The model is small enough that
    full precision costs little there; on CPU it changes nothing (XLA:CPU computes float32 in
    full). A JAX_DEFAULT_MATMUL_PRECISION set by the user (e.g. "tensorfloat32") wins.
    """
    if "JAX_DEFAULT_MATMUL_PRECISION" in environ:
        return False
    # in the environment too: a process this one starts (the tests' build drivers, a benchmark's
    # builds) reads it there. Set in this process only, a child ran TF32 on a GPU and its cached
    # maps differed from this process's (a GPU run of tests/test_crash.py)
    environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
    if "jax" in sys.modules:  # imported already: it read the environment then
        sys.modules["jax"].config.update("jax_default_matmul_precision", "highest")
    return True


def enable_compilation_cache(folder: Path) -> None:
    """Persist compiled XLA programs under `folder`, so a rebuild does not recompile."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "jax_compilation_cache_dir": str(folder),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    for name, value in settings.items():
        if "jax" in sys.modules:
            sys.modules["jax"].config.update(name, value)
        else:  # read by `import jax` (each option's upper-case name)
            os.environ[name.upper()] = str(value)


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_compile_seconds = [0.0]
_listening = [False]


def compile_seconds() -> float:
    """Seconds spent tracing and compiling since the process started (0 until first asked, and
    while JAX is not imported: nothing can have compiled)."""
    if not _listening[0] and "jax" in sys.modules:
        import jax.monitoring

        def on_event(event: str, duration: float, **_: object) -> None:
            if event in _COMPILE_EVENTS:
                _compile_seconds[0] += duration

        jax.monitoring.register_event_duration_secs_listener(on_event)
        _listening[0] = True
    return _compile_seconds[0]
