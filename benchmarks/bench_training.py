"""Training speed: cnnatlas (JAX) vs PyTorch on the same TinyVGG, data, batch size and optimizer,
measured in the same run. PyTorch is optional (`pip install torch`); without it only JAX runs.

Both do the same work each epoch: one pass over the 60k training images in batches of 128, then
the test accuracy on 10k images (cnnatlas keeps it in the training history). Per epoch: each
epoch's seconds; `seconds_per_epoch` is the mean over the epochs after the first (the first
also pays JAX's compilation and initialization, reported as `first_epoch_extra_s`).

python benchmarks/bench_training.py [--epochs N] (N ≥ 2)
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

from common import ROOT, emit

from cnnatlas.config import TrainConfig, load_config
from cnnatlas.data import load_dataset
from cnnatlas.jaxsetup import configure_precision, configure_xla_flags
from cnnatlas.models import make_spec
from cnnatlas.train import train


def _summary(times: list[float]) -> dict:
    """Per-epoch seconds -> the steady mean (epochs after the first) and the first's extra."""
    steady = sum(times[1:]) / (len(times) - 1) if len(times) > 1 else times[0]
    return {
        "seconds_per_epoch": round(steady, 2),
        "epoch_seconds": [round(t, 2) for t in times],
        "first_epoch_extra_s": round(times[0] - steady, 2),
    }


def bench_jax(cfg, data, epochs: int) -> dict:
    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    tcfg = TrainConfig(epochs=epochs, batch_size=128, learning_rate=cfg.train.learning_rate)
    steps = len(data.train_x) // 128
    marks: list[float] = []  # when each epoch's last step finished (progress syncs with it)

    def progress(step: int, total: int, _: dict) -> None:
        if step % steps == 0:
            marks.append(time.perf_counter())

    t = time.perf_counter()
    res = train(
        spec, tcfg, data.train_x, data.train_y, data.test_x, data.test_y, cfg.seed, progress
    )
    end = time.perf_counter()
    # From one epoch's last step to the next's: a test pass and an epoch of steps. The first
    # epoch: the start (initialization, compilation) to its last step, plus the final test pass.
    times = [b - a for a, b in itertools.pairwise(marks)]
    times.insert(0, marks[0] - t + end - marks[-1])
    return {**_summary(times), "test_acc": res.test_acc}


def step_ms(cfg, data, steps: int = 10, repeat: int = 10) -> float:
    """Steady-state train step (batch 128), fastest mean over `repeat` runs of `steps` steps."""
    import jax
    import optax

    from cnnatlas.train import _train_step

    spec = make_spec(cfg.model, data.input_shape, len(data.class_names))
    params = spec.init(jax.random.key(0))
    tx = optax.adam(cfg.train.learning_rate)
    opt = tx.init(params)
    x, y = jax.numpy.asarray(data.train_x), jax.numpy.asarray(data.train_y)
    idx = jax.numpy.arange(128, dtype=jax.numpy.int32)  # the step gathers its batch (train.py)
    params, opt, loss, _ = _train_step(params, opt, x, y, idx, spec=spec, tx=tx)
    loss.block_until_ready()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(steps):
            params, opt, loss, _ = _train_step(params, opt, x, y, idx, spec=spec, tx=tx)
        loss.block_until_ready()
        best = min(best, (time.perf_counter() - t) / steps)
    return round(best * 1e3, 2)


def bench_torch(data, epochs: int, channels_last: bool) -> dict:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 10, 3), nn.ReLU(), nn.Conv2d(10, 10, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(10, 10, 3), nn.ReLU(), nn.Conv2d(10, 10, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(160, 10),
    )  # fmt: skip
    x = torch.from_numpy(data.train_x).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(data.train_y).long()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=0.003)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(data.test_x).permute(0, 3, 1, 2).contiguous()
    if channels_last:
        xt = xt.to(memory_format=torch.channels_last)
    times = []
    for epoch in range(epochs):
        t = time.perf_counter()
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for i in range(len(x) // 128):
            idx = perm[i * 128 : (i + 1) * 128]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        with torch.no_grad():  # the same per-epoch test pass as cnnatlas's history
            acc = (model(xt).argmax(1).numpy() == data.test_y).mean()
        times.append(time.perf_counter() - t)
    return {
        **_summary(times),
        "test_acc": float(acc),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument(
        "--default-xla-flags",
        action="store_true",
        help="baseline: without the XLA flags build.py sets (jaxsetup.configure_xla_flags)",
    )
    args = ap.parse_args()
    if args.default_xla_flags:
        os.environ["CNNATLAS_DEFAULT_XLA_FLAGS"] = "1"
    configure_xla_flags()  # as build.py does, before anything runs JAX
    configure_precision()
    cfg = load_config(ROOT / "content" / "atlas.toml")
    data = load_dataset(cfg.dataset)
    result = {"epochs": args.epochs, "batch_size": 128, "jax": bench_jax(cfg, data, args.epochs)}
    result["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    result["jax"]["step_ms"] = step_ms(cfg, data)
    try:
        result["torch"] = bench_torch(data, args.epochs, channels_last=False)
        result["torch_channels_last"] = bench_torch(data, args.epochs, channels_last=True)
        best = min(
            result["torch"]["seconds_per_epoch"], result["torch_channels_last"]["seconds_per_epoch"]
        )
        result["jax_over_best_torch"] = round(result["jax"]["seconds_per_epoch"] / best, 2)
    except ImportError:
        result["torch"] = "not installed (pip install torch to compare)"
    emit("training", result)


if __name__ == "__main__":
    main()
