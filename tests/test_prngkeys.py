"""prngkeys: NumPy Threefry keys equal JAX's, bit for bit."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from cnnatlas import prngkeys
from cnnatlas.compute import _split_keys


@pytest.mark.parametrize(
    ("key", "counter", "expected"),
    [  # Random123's known-answer vectors for threefry2x32_20 (also in JAX's own tests)
        ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF,) * 2, (0xFFFFFFFF,) * 2, (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ],
)
def test_threefry_known_answers(key, counter, expected):
    out = prngkeys.threefry2x32(*(np.uint32(k) for k in key), *(np.uint32(c) for c in counter))
    assert (int(out[0]), int(out[1])) == expected


@pytest.mark.parametrize("n_targets", [1, 2, 10])
@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_example_keys_equal_jax(seed, n_targets):
    assert prngkeys.jax_compatible()  # this project's JAX settings
    folds = np.random.default_rng(seed % 97).integers(0, 2**32, 41, dtype=np.uint64)
    folds = folds.astype(np.uint32)
    ours = prngkeys.example_key_data(seed, folds, n_targets)
    want = np.asarray(_split_keys(np.uint32(seed), folds, n_targets))
    assert ours.dtype == want.dtype == np.uint32
    np.testing.assert_array_equal(ours, want)
    # and the public JAX spelling, for one fold
    k = jax.random.split(jax.random.fold_in(jax.random.key(seed), int(folds[3])), n_targets)
    np.testing.assert_array_equal(ours[3], np.asarray(jax.random.key_data(k)))


def test_no_samples():
    assert prngkeys.example_key_data(0, np.zeros(0, np.uint32), 3).shape == (0, 3, 2)
