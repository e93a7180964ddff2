"""Per-example PRNG key data computed in NumPy, bit-identical to JAX's threefry keys.

The cache key of a stochastic map (SmoothGrad) names its PRNG key, so even a build with every
map cached must derive every key. Through JAX that meant tracing and loading a compiled program
per (samples, targets) shape: ~0.4 s of a no-change rebuild (issue 10). Here the same values
come from NumPy: Threefry-2x32 with 20 rounds (Salmon, Moraes, Dror & Shaw, "Parallel random
numbers: as easy as 1, 2, 3", SC 2011), arranged as `jax.random.key`, `fold_in` and `split`
arrange it (the "partitionable" split, JAX's default since 0.5). Where JAX is configured
otherwise (another PRNG implementation, the old split) the caller uses JAX; tests compare both.
"""

from __future__ import annotations

import jax
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotl(v: np.ndarray, r: int) -> np.ndarray:
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def threefry2x32(
    k1: np.ndarray, k2: np.ndarray, x1: np.ndarray, x2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 (20 rounds) of the counter pairs (x1, x2) under the keys (k1, k2); all
    uint32, broadcast together. Returns the two output words, as JAX's threefry2x32_p."""
    k1, k2, x1, x2 = (np.asarray(a, np.uint32) for a in (k1, k2, x1, x2))
    ks = (k1, k2, k1 ^ k2 ^ _PARITY)
    with np.errstate(over="ignore"):  # arithmetic is modulo 2**32 by design
        a, b = x1 + ks[0], x2 + ks[1]
        for i in range(5):
            for r in _ROTATIONS[i % 2]:
                a = a + b
                b = _rotl(b, r) ^ a
            a = a + ks[(i + 1) % 3]
            b = b + ks[(i + 2) % 3] + np.uint32(i + 1)
    return a, b


def jax_compatible() -> bool:
    """Whether `example_key_data` reproduces this JAX configuration's keys."""
    return bool(
        jax.config.jax_threefry_partitionable and jax.config.jax_default_prng_impl == "threefry2x32"
    )


def example_key_data(seed: int, folds: np.ndarray, n_targets: int) -> np.ndarray:
    """(N, T, 2) uint32: `jax.random.key_data(jax.random.split(jax.random.fold_in(
    jax.random.key(seed), f), T))` for each f in folds (N,) uint32."""
    root = (np.uint32(0), np.uint32(seed))  # key(seed): a 32-bit seed is (0, seed)
    folds = np.asarray(folds, np.uint32)
    # fold_in(root, f) hashes the counter pair (0, f)
    f1, f2 = threefry2x32(*root, np.zeros_like(folds), folds)
    # split(k, T) hashes the counter pairs (0, t), t = 0..T-1 (the partitionable split)
    t = np.arange(n_targets, dtype=np.uint32)[None, :]
    b1, b2 = threefry2x32(f1[:, None], f2[:, None], np.zeros_like(t), t)
    return np.stack([b1, b2], axis=-1)
