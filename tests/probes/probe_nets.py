"""Hand-built nets for the probe tests, whose attributions can be written down by hand."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnnatlas.models.base import ModelSpec, Net, Stage, flatten, relu


def linear_net(kernel: np.ndarray, bias: np.ndarray) -> Net:
    """logits = flatten(x) @ kernel + bias; kernel (H*W*C, n), for an input of shape (4, 4, 1)."""
    spec = ModelSpec(
        name="linear",
        input_shape=(4, 4, 1),
        n_classes=kernel.shape[1],
        stages=(
            Stage("flatten", "flatten", op=flatten),
            Stage("dense", "dense", nn.Dense(kernel.shape[1])),
        ),
    )
    params = {
        "dense": {
            "kernel": jnp.asarray(kernel, jnp.float32),
            "bias": jnp.asarray(bias, jnp.float32),
        }
    }
    return Net(params, spec)


def mlp_net(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> Net:
    """logits = relu(flatten(x) @ w1 + b1) @ w2 + b2, for an input of shape (4, 4, 1)."""
    spec = ModelSpec(
        name="mlp",
        input_shape=(4, 4, 1),
        n_classes=w2.shape[1],
        stages=(
            Stage("flatten", "flatten", op=flatten),
            Stage("hidden", "dense", nn.Dense(w1.shape[1])),
            Stage("relu", "relu", op=relu),
            Stage("dense", "dense", nn.Dense(w2.shape[1])),
        ),
    )
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    params = {
        "hidden": {"kernel": f32(w1), "bias": f32(b1)},
        "dense": {"kernel": f32(w2), "bias": f32(b2)},
    }
    return Net(params, spec)


def key_data(key: jax.Array, *shape: int) -> np.ndarray:
    """uint32 key data (*shape, 2) of distinct keys, as compute.example_keys gives them."""
    n = int(np.prod(shape))
    return np.asarray(jax.random.key_data(jax.random.split(key, n))).reshape(*shape, -1)
