"""Training: the fused epoch (`lax.scan`, used on accelerators) equals the per-step loop (CPU)."""

from __future__ import annotations

import numpy as np

from cnnatlas import train as train_mod
from cnnatlas.config import TrainConfig
from tests.conftest import make_tiny_spec


def _run(monkeypatch, fused: bool):
    monkeypatch.setattr(train_mod, "fused_epochs", lambda: fused)
    rng = np.random.default_rng(0)
    x = rng.random((192, 8, 8, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) * 37).astype(np.int32) % 5
    seen = []
    res = train_mod.train(
        make_tiny_spec(), TrainConfig(epochs=2, batch_size=32), x, y, x[:64], y[:64], seed=0,
        progress=lambda done, total, fields: seen.append((done, total)),
    )  # fmt: skip
    return res, seen


def test_fused_epoch_equals_step_loop(monkeypatch):
    step, seen_step = _run(monkeypatch, fused=False)
    fused, seen_fused = _run(monkeypatch, fused=True)
    for name in ("conv_a", "conv_b", "dense"):
        np.testing.assert_allclose(
            fused.net.params[name]["kernel"], step.net.params[name]["kernel"], rtol=1e-4, atol=1e-5
        )
    for a, b in zip(fused.history, step.history, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4 and a["test_acc"] == b["test_acc"]
    assert seen_fused == [(6, 12), (12, 12)] and seen_step[-1] == (12, 12)
