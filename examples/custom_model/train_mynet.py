"""Train `mynet` with your own loop and save the weights cnnatlas reads (mynet.msgpack).

    PYTHONPATH=. .venv/bin/python examples/custom_model/train_mynet.py [--steps 300]

Any training code works: what matters is the saved tree, {stage name: that module's linen
params}, written with flax.serialization.to_bytes (or an Orbax checkpoint directory).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from flax import serialization
from mynet import make

from cnnatlas.config import DatasetConfig
from cnnatlas.data import load_dataset
from cnnatlas.models import ModelSpec, Net

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", type=Path, default=HERE / "mynet.msgpack")
    args = ap.parse_args()
    data = load_dataset(DatasetConfig())
    n_classes = len(data.class_names)
    shape = tuple(data.train_x.shape[1:])
    spec = ModelSpec("mynet", shape, n_classes, tuple(make(shape, n_classes)))
    params = spec.init(jax.random.key(0))  # {stage name: linen params}

    def loss(p, x, y):
        logits = jax.vmap(Net(p, spec).run)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    tx = optax.adam(3e-3)
    state = tx.init(params)

    @jax.jit
    def step(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    for i in range(args.steps):
        idx = jax.random.randint(jax.random.key(i + 1), (64,), 0, len(data.train_x))
        x, y = jnp.asarray(data.train_x[idx]), jnp.asarray(data.train_y[idx])
        params, state = step(params, state, x, y)
    args.out.write_bytes(serialization.to_bytes(params))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
