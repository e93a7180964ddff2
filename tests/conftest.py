"""Shared fixtures: strict JAX numerics, a tiny two-conv net, and one tiny atlas build per session."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist (`make test`: one worker per core) every worker and its build.py children
# compute on one thread: thread pools that spin while they wait (Eigen's, OpenBLAS's) took the
# cores from each other, and two workers ran slower than one.
os.environ.update(
    {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if "PYTEST_XDIST_WORKER" in os.environ
    else {}
)

import flax.linen as nn
import jax
import pytest

from cnnatlas.jaxsetup import (
    GPU_XLA_FLAGS,
    configure_precision,
    configure_xla_flags,
    enable_compilation_cache,
)
from cnnatlas.models.base import ModelSpec, Net, Stage, flatten, max_pool_2x2, relu

# Implicit rank promotion hides shape bugs; strict dtype promotion is left off because optax's
# schedules mix Python floats with int32 step counts.
jax.config.update("jax_numpy_rank_promotion", "raise")
# The suite's programs are tiny and mostly run once: XLA compiling them costs more than running
# them (a tiny build spent 97 of its 118 s compiling). Without LLVM's optimization passes it
# compiled in 47 s and ran in 77 s in all, with the same test accuracy. Set in XLA_FLAGS, so the
# build.py children of the tests get it too; as build.py: deterministic GPU programs (the CPU
# lowering stays XLA's default here: with build.py's the suite took as long, 18.1 vs 18.3 min) ...
TEST_COMPILE_FLAGS = (
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
PARALLEL = "PYTEST_XDIST_WORKER" in os.environ
ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false",) if PARALLEL else ()
configure_xla_flags(flags=TEST_COMPILE_FLAGS + ONE_THREAD + GPU_XLA_FLAGS)
configure_precision()  # ... and full float32 on GPUs too (TF32 fails the numerical checks)

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = ROOT / "tests" / "tiny.toml"

# The suite builds the tiny atlas several times (and in subprocesses): share compiled programs.
# One folder per xdist worker: JAX writes its entries without a lock (no eviction), so a worker
# could read another one's half-written entry.
JAX_CACHE = ROOT / ".cache" / "jax-tests" / os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ["JAX_COMPILATION_CACHE_DIR"] = str(JAX_CACHE)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
enable_compilation_cache(JAX_CACHE)


def make_tiny_spec(padding: str = "VALID") -> ModelSpec:
    """8×8×1 input -> conv 3×3 (3) -> relu -> conv 3×3 (4) -> relu -> pool -> flatten -> dense 5."""
    return ModelSpec(
        name="tiny",
        input_shape=(8, 8, 1),
        n_classes=5,
        stages=(
            Stage("conv_a", "conv", nn.Conv(3, (3, 3), padding=padding)),
            Stage("relu_a", "relu", op=relu),
            Stage("conv_b", "conv", nn.Conv(4, (3, 3), padding=padding)),
            Stage("relu_b", "relu", op=relu),
            Stage("pool", "pool", op=max_pool_2x2),
            Stage("flatten", "flatten", op=flatten),
            Stage("dense", "dense", nn.Dense(5)),
        ),
    )


@pytest.fixture(scope="session")
def tiny_net() -> Net:
    spec = make_tiny_spec()
    return Net(spec.init(jax.random.key(42)), spec)


@pytest.fixture(scope="session")
def key() -> jax.Array:
    return jax.random.key(0)


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory):
    """One build of tests/tiny.toml: (site dir, cache dir, report)."""
    from cnnatlas.config import load_config
    from cnnatlas.pipeline import build

    base = tmp_path_factory.mktemp("tiny")
    cfg = load_config(TINY_CONFIG)
    report = build(cfg, base / "site", base / "cache")
    return base / "site", base / "cache", report


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"],
    }


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served(tiny_build, tmp_path_factory):
    """The tiny site under http://127.0.0.1:PORT/cnnatlas/, as GitHub Pages serves a project
    (a sub-path, so that a root-absolute link fails). Browser tests share this one server."""
    root = tmp_path_factory.mktemp("docroot")
    (root / "cnnatlas").symlink_to(tiny_build[0], target_is_directory=True)
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/cnnatlas/"
    srv.shutdown()
    srv.server_close()
