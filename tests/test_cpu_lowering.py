"""The XLA flags build.py sets (jaxsetup.configure_xla_flags, issue 10): how they enter
XLA_FLAGS, that XLA honours the CPU ones, and that the train step computes the same numbers; and
its float32 precision (jaxsetup.configure_precision)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnnatlas.config import ModelConfig
from cnnatlas.jaxsetup import (
    CPU_XLA_FLAGS,
    GPU_XLA_FLAGS,
    configure_precision,
    configure_xla_flags,
)
from cnnatlas.models import make_spec
from cnnatlas.train import _loss

ROOT = Path(__file__).resolve().parent.parent
_NHWC = ("NHWC", "HWIO", "NHWC")


def test_flags_added_once_and_user_flags_kept():
    env: dict[str, str] = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert configure_xla_flags(env) == [*CPU_XLA_FLAGS, *GPU_XLA_FLAGS]
    assert env["XLA_FLAGS"].split() == [
        "--xla_force_host_platform_device_count=2",
        *CPU_XLA_FLAGS,
        *GPU_XLA_FLAGS,
    ]
    assert configure_xla_flags(env) == []  # idempotent
    user = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_REDUCE"}
    assert configure_xla_flags(user) == ["--xla_cpu_experimental_xnn_fusion_type=", *GPU_XLA_FLAGS]
    assert "ynn_fusion_type=LIBRARY_FUSION_TYPE_REDUCE" in user["XLA_FLAGS"]  # the user's wins
    off = {"CNNATLAS_DEFAULT_XLA_FLAGS": "1"}
    assert configure_xla_flags(off) == [] and "XLA_FLAGS" not in off


def test_precision_is_full_float32_unless_the_user_chose():
    """conftest calls configure_precision as build.py does; a user's setting is left alone."""
    try:
        jax.config.update("jax_default_matmul_precision", None)
        assert not configure_precision({"JAX_DEFAULT_MATMUL_PRECISION": "tensorfloat32"})
        assert jax.config.jax_default_matmul_precision is None
        env: dict[str, str] = {}
        assert configure_precision(env)
        assert env == {"JAX_DEFAULT_MATMUL_PRECISION": "highest"}  # what child processes read
    finally:
        jax.config.update("jax_default_matmul_precision", "highest")
    assert jax.config.jax_default_matmul_precision == "highest"
    child = "import jax; print(jax.config.jax_default_matmul_precision)"  # conftest's environment
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "highest"
    # a convolution as the probes run it matches float64 to float32 rounding on any backend
    # (TF32 on a GPU is ~1e-3 off)
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(4, 28, 28, 10)), rng.normal(size=(3, 3, 10, 10))

    def conv(a, b):
        return jax.lax.conv_general_dilated(a, b, (1, 1), "VALID", dimension_numbers=_NHWC)

    got = jax.jit(conv)(jnp.float32(x), jnp.float32(w))
    with jax.enable_x64():
        ref = np.asarray(conv(jnp.asarray(x), jnp.asarray(w)))
    rel = float(np.abs(np.asarray(got, np.float64) - ref).max() / np.abs(ref).max())
    assert rel < 1e-5, rel


def _spec_batch():
    spec = make_spec(ModelConfig(), (28, 28, 1), 10)
    params = spec.init(jax.random.key(3))
    rng = np.random.default_rng(0)
    xs = rng.random((16, 28, 28, 1), np.float32)
    ys = rng.integers(0, 10, 16).astype(np.int32)
    return spec, params, xs, ys


_CHILD = """
import json, sys
import jax, jax.numpy as jnp, numpy as np
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
from test_cpu_lowering import _spec_batch
from cnnatlas.train import _loss
spec, params, xs, ys = _spec_batch()
f = jax.jit(jax.value_and_grad(_loss, has_aux=True), static_argnums=1)
hlo = f.lower(params, spec, xs, ys).compile().as_text()
(loss, _), grads = f(params, spec, xs, ys)
leaves = {{jax.tree_util.keystr(k): np.asarray(v).tolist()
          for k, v in jax.tree_util.tree_leaves_with_path(grads)}}
print(json.dumps({{"loss": float(loss), "grads": leaves, "library_fusions": hlo.count("nn_fusion")}}))
"""


def test_flagged_train_step_matches_default_lowering():
    """A child process with the flags: XLA accepts them (no abort), no YNN/XNN library fusion is
    left, and loss and every gradient equal this process's default lowering within float
    tolerance (the shipped weights and trained accuracy do not depend on the choice)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("CNNATLAS_DEFAULT_XLA_FLAGS", None)
    configure_xla_flags(env)
    code = _CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["library_fusions"] == 0

    spec, params, xs, ys = _spec_batch()
    step = jax.jit(jax.value_and_grad(_loss, has_aux=True), static_argnums=1)  # one compile
    (loss, _), grads = step(params, spec, jnp.asarray(xs), jnp.asarray(ys))
    np.testing.assert_allclose(child["loss"], float(loss), rtol=1e-5)
    here = {
        jax.tree_util.keystr(k): np.asarray(v)
        for k, v in jax.tree_util.tree_leaves_with_path(grads)
    }
    assert here.keys() == child["grads"].keys()
    for name, g in here.items():
        scale = float(np.abs(g).max()) + 1e-12
        np.testing.assert_allclose(
            np.asarray(child["grads"][name]), g, atol=1e-5 * scale, err_msg=name
        )
