"""A whole forward pass over 2×2 blocks, for training: activations stay in `blockconv`'s layout
from one convolution to the next.

`blockconv` rearranges each narrow convolution's input into 2×2 blocks and its output back. In a
network of conv -> ReLU -> conv -> ReLU -> 2×2 max-pool (TinyVGG's blocks) the rearrangements in
between are not needed: ReLU is elementwise, the next convolution wants blocks again, and a 2×2
max-pool of a blocked map is the maximum over each block's four pixels, which are its channel
groups. `run` keeps a map in blocks while it can and rearranges only where a stage needs pixels.
On TinyVGG a training step went from 11.6 to 10.7 ms (batch 128, 2-core CPU; ~8 %); for the
attribution methods it measured no faster than `blockconv` alone (integrated gradients 2.56 vs
2.43 ms per map), so the probes keep `Net.run` with `blockconv_spec`.

A convolution stays in blocks when `blockconv.plain_conv` and `blockconv.covered` take it, with
odd kernel sides and even output sides (an input already in blocks must also need no padding);
everything else runs as in `Net.run` (under `blockconv_spec`). The values equal `Net.run`'s up to
float summation order (tests/test_blockrun.py).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from .base import ModelSpec, Stage, max_pool_2x2
from .blockconv import (
    NHWC,
    block_kernel,
    blockconv_spec,
    covered,
    from_blocks,
    plain_conv,
    to_blocks,
)


def blocked_conv(stage: Stage, p: dict, a: jax.Array, size: tuple[int, int], blocked: bool):
    """(output in blocks, its size) when the stage can run over blocks, else None.

    a: (N, h, w, C) pixels, or (N, h/2, w/2, 4C) blocks of maps of `size` when `blocked`."""
    m, kernel = stage.module, p["kernel"]
    kh, kw, c_in, _ = kernel.shape
    plain = plain_conv(stage)
    if plain is None or kh % 2 == 0 or kw % 2 == 0:
        return None
    pads = plain[1]
    probe = jax.ShapeDtypeStruct((1, *size, c_in), a.dtype)
    if not covered(probe, kernel, (1, 1), pads, dimension_numbers=NHWC):
        return None
    out = (size[0] + sum(pads[0]) - kh + 1, size[1] + sum(pads[1]) - kw + 1)
    if out[0] % 2 or out[1] % 2 or (blocked and any(lo or hi for lo, hi in pads)):
        return None
    if not blocked:  # padded to out + k - 1 pixels: (out/2 + (k+1)/2 - 1) blocks of 2
        a = to_blocks(jnp.pad(a, ((0, 0), *pads, (0, 0))))
    y = lax.conv_general_dilated(a, block_kernel(kernel), (1, 1), "VALID",
                                 dimension_numbers=NHWC, precision=m.precision)  # fmt: skip
    if m.use_bias:
        # channels ordered (row phase, column phase, channel): the bias once per phase
        y = y + jnp.tile(p["bias"], 4).reshape(1, 1, 1, -1)
    return y, out


def run(params: dict[str, Any], spec: ModelSpec, x: jax.Array) -> jax.Array:
    """Logits of one unbatched input x (H, W, C), as `Net(params, spec).run(x)` computes them.

    For models without stateful stages (batch norm in training mode needs `train_forward`)."""
    fallback = blockconv_spec(spec).stages
    a, blocked, size = x, False, tuple(x.shape[:2])
    for stage, other in zip(spec.stages, fallback, strict=True):
        p = params.get(stage.name)
        if stage.kind == "conv":
            done = blocked_conv(stage, p, a[None], size, blocked)
            if done is not None:
                (a, size), blocked = (done[0][0], done[1]), True
                continue
        elif blocked and stage.kind == "relu" and stage.module is None:
            a = stage.op(a)  # elementwise: any layout
            continue
        elif blocked and stage.kind == "pool" and stage.op is max_pool_2x2:
            h, w, c = a.shape  # every block is one pooling window (the size is even)
            a, blocked = a.reshape(h, w, 4, c // 4).max(axis=2), False
            size = (h, w)
            continue
        if blocked:
            a, blocked = from_blocks(a[None])[0], False
        a = other.apply(p, a)
        size = tuple(a.shape[:2])
    return from_blocks(a[None])[0] if blocked else a
