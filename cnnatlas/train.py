"""Train a model with optax: seeded, deterministic; one jitted call per step on CPU, one jitted
`lax.scan` over each epoch's steps on accelerators (see `fused_epochs`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import devices
from .batching import chunk_size, map_chunks
from .config import TrainConfig
from .models import ModelSpec, Net, blockrun
from .models.base import train_forward, with_stats
from .models.blockconv import blockconv_net, blockconv_spec

_PROGRESS_EVERY = 25  # steps between progress updates (each one syncs with the device)


@dataclass(frozen=True)
class TrainResult:
    net: Net
    history: list[dict[str, float]]  # per epoch: loss, train_acc, test_acc
    test_acc: float


def _loss(params, spec: ModelSpec, xs, ys):
    """Training mode: batch norm uses the batch's statistics and returns new running ones.

    Narrow convolutions run over 2×2 blocks (`models.blockconv`, and `models.blockrun` keeps
    the activations in blocks between them): the same function and parameters, a TinyVGG step
    17.8 ms (XLA's convolution) -> 10.7 ms on this project's 2-core CPU (bench_lowering.py)."""
    if any(s.stateful for s in spec.stages):
        logits, stats = train_forward(params, blockconv_spec(spec), xs)
    else:
        logits, stats = jax.vmap(partial(blockrun.run, params, spec))(xs), {}
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, ys).mean()
    return loss, ((logits.argmax(-1) == ys).mean(), stats)


def _step(params, opt_state, xs, ys, *, spec: ModelSpec, tx):
    """One optimizer step on a batch xs (B, H, W, C), ys (B,).

    On XLA:CPU it is jitted alone (`_train_step`), one call per step: the convolutions inside
    a scanned loop ran ~4× slower there (measured 51 s vs 14 s per epoch; with the block
    convolutions 190 vs 12 ms per step).
    """
    (loss, (acc, stats)), grads = jax.value_and_grad(_loss, has_aux=True)(params, spec, xs, ys)
    updates, opt_state = tx.update(grads, opt_state, params)
    return with_stats(optax.apply_updates(params, updates), stats), opt_state, loss, acc


@partial(jax.jit, static_argnames=("spec", "tx"), donate_argnames=("params", "opt_state"))
def _train_step(params, opt_state, data_x, data_y, idx, *, spec: ModelSpec, tx):
    """`_step` on the batch data_x[idx], data_y[idx], idx (B,) int32: gathered inside the step,
    so no epoch-sized copy of the training set is made (188 MB for Fashion-MNIST)."""
    return _step(params, opt_state, data_x[idx], data_y[idx], spec=spec, tx=tx)


@partial(jax.jit, static_argnames=("spec", "tx"), donate_argnames=("params", "opt_state"))
def _train_epoch(params, opt_state, data_x, data_y, idx, *, spec: ModelSpec, tx):
    """All steps of an epoch, idx (steps, B) int32 rows of the training set, as one `lax.scan`:
    on a GPU or TPU this removes the per-step dispatch that otherwise dominates a small model."""

    def step(carry, rows):
        p, o, loss, acc = _step(*carry, data_x[rows], data_y[rows], spec=spec, tx=tx)
        return (p, o), (loss, acc)

    (params, opt_state), (losses, accs) = jax.lax.scan(step, (params, opt_state), idx)
    return params, opt_state, losses, accs


def fused_epochs() -> bool:
    """Scan whole epochs except on XLA:CPU, where scanned convolutions ran 4-16× slower."""
    return jax.default_backend() != "cpu"


# Images per `predict` call at most: larger chunks ran slower on CPU (they leave the caches);
# 10,000 test images took 0.74 s in chunks of ~2,000 and 0.54 s in chunks of ~250.
PREDICT_CHUNK = 256


@jax.jit
def _logits(net: Net, xs: jax.Array) -> jax.Array:
    net = blockconv_net(net)  # same function, faster (models/blockconv.py)
    return jax.vmap(net.run)(xs)


def predict(net: Net, xs: np.ndarray, memory_mb: int = 256) -> np.ndarray:
    """Logits (N, n_classes) for images (N, H, W, C), in bounded chunks over all devices."""
    net = devices.replicate(net)
    chunk = min(PREDICT_CHUNK, chunk_size(xs[0].nbytes * 40, memory_mb))
    return map_chunks(lambda x: _logits(net, x), [xs], chunk)  # type: ignore[return-value]


def train(
    spec: ModelSpec,
    cfg: TrainConfig,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    seed: int,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Adam (cosine-decayed rate) on softmax cross-entropy, batches from seeded permutations.

    progress(step, total_steps, {"loss": .., "acc": ..}) is called every few steps.
    """
    key = jax.random.key(seed)
    params = jax.jit(spec.init)(jax.random.fold_in(key, 0))  # one program: see ModelSpec.init
    n = len(train_x) if not cfg.train_limit else min(cfg.train_limit, len(train_x))
    batch = min(cfg.batch_size, n)
    steps = n // batch
    # Adam with cosine decay to 0 over the whole run: ~0.5 point better than a constant rate.
    tx = optax.adam(optax.cosine_decay_schedule(cfg.learning_rate, steps * cfg.epochs))
    opt_state = tx.init(params)
    params, opt_state = devices.replicate((params, opt_state))
    # Data parallel over all devices when the batch splits evenly (one device: a no-op).
    split = batch % devices.count() == 0
    # the training set stays where it is (every device holds it); each step gathers its batch
    xs, ys = devices.replicate((jnp.asarray(train_x[:n]), jnp.asarray(train_y[:n])))
    history: list[dict[str, float]] = []
    total = steps * cfg.epochs
    done = 0
    for epoch in range(cfg.epochs):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch + 1), n))
        idx = jnp.asarray(perm[: steps * batch].reshape(steps, batch).astype(np.int32))
        if split:
            idx = devices.shard(idx, axis=1)
        losses, accs = [], []
        if fused_epochs():
            params, opt_state, loss_s, acc_s = _train_epoch(
                params, opt_state, xs, ys, idx, spec=spec, tx=tx
            )
            losses, accs, done = [loss_s], [acc_s], done + steps
            if progress:
                progress(done, total, {"loss": float(loss_s[-1]), "acc": float(acc_s[-1])})
        for i in range(0 if fused_epochs() else steps):
            params, opt_state, loss, acc = _train_step(
                params, opt_state, xs, ys, idx[i], spec=spec, tx=tx
            )
            losses.append(loss)
            accs.append(acc)
            done += 1
            if progress and (done % _PROGRESS_EVERY == 0 or i == steps - 1):
                progress(done, total, {"loss": float(loss), "acc": float(acc)})
        net = Net(params, spec)
        test_acc = float((predict(net, test_x).argmax(-1) == test_y).mean())
        history.append(
            {
                "epoch": epoch + 1,
                "loss": float(np.mean(jax.device_get(losses))),
                "train_acc": float(np.mean(jax.device_get(accs))),
                "test_acc": test_acc,
            }
        )
    net = Net(params, spec)
    return TrainResult(net=net, history=history, test_acc=history[-1]["test_acc"])
