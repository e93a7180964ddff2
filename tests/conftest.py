"""Shared fixtures: strict JAX numerics, a tiny two-conv net, and one tiny atlas build per session."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flax.linen as nn
import jax
import pytest

from cnnatlas.models.base import ModelSpec, Net, Stage, flatten, max_pool_2x2, relu

# Implicit rank promotion hides shape bugs; strict dtype promotion is left off because optax's
# schedules mix Python floats with int32 step counts.
jax.config.update("jax_numpy_rank_promotion", "raise")

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = ROOT / "tests" / "tiny.toml"


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
