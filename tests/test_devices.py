"""Data parallelism: the same training and probes on 4 (forced) CPU devices equal 1 device."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from tests.conftest import ROOT

SCRIPT = """
import sys, tempfile, pathlib
import jax, numpy as np
from cnnatlas.cache import Cache
from cnnatlas.compute import ComputeContext, run_activations, run_attribution
from cnnatlas.config import TrainConfig
from cnnatlas.probes import PROBES
from cnnatlas.samples import Sample
from cnnatlas.train import predict, train
from tests.conftest import make_tiny_spec

rng = np.random.default_rng(0)
x = rng.random((256, 8, 8, 1), dtype=np.float32)
y = (x.mean(axis=(1, 2, 3)) * 37).astype(np.int32) % 5
spec = make_tiny_spec()
res = train(spec, TrainConfig(epochs=2, batch_size=32), x, y, x[:64], y[:64], seed=0)
samples = [Sample(f"s{i}", x[i], int(y[i]), "t") for i in range(6)]
ctx = ComputeContext(Cache(pathlib.Path(tempfile.mkdtemp())), res.net, "w", 0, 64)
acts = run_activations(ctx, samples)
maps = run_attribution(ctx, PROBES["gradcam"], {"layers": ["conv_a"], "classes": "all"}, samples, acts)
np.savez(sys.argv[1], devices=len(jax.devices()), logits=predict(res.net, x[:100]),
         cams=np.stack([maps["conv_a"][s.id]["maps"] for s in samples]),
         kernel=np.asarray(res.net.params["conv_a"]["kernel"]))
"""


def run(tmp_path, n_devices: int) -> dict:
    out = tmp_path / f"d{n_devices}.npz"
    env = {
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_devices}",
        "PATH": "/usr/bin:/bin",
        "JAX_PLATFORMS": "cpu",  # the forced host devices are CPU ones, also on a GPU host
    }
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(np.load(out))


def test_four_devices_equal_one(tmp_path):
    one, four = run(tmp_path, 1), run(tmp_path, 4)
    assert (int(one["devices"]), int(four["devices"])) == (1, 4)
    np.testing.assert_allclose(four["kernel"], one["kernel"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(four["logits"], one["logits"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(four["cams"], one["cams"], rtol=1e-4, atol=1e-6)
