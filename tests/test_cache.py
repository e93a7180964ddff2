"""Content-addressed cache: stable keys, atomic entries, corrupt entries recomputed, hits and misses."""

import jax
import numpy as np

from cnnatlas import cache as cache_mod
from cnnatlas.cache import Cache
from cnnatlas.compute import ComputeContext, run_activations, run_attribution
from cnnatlas.probes import PROBES
from cnnatlas.samples import Sample


def test_key_is_stable_and_sensitive():
    a = cache_mod.key({"probe": "gradcam", "hparams": {"layer": "conv_1", "n": 2}})
    b = cache_mod.key({"hparams": {"n": 2, "layer": "conv_1"}, "probe": "gradcam"})
    assert a == b and len(a) == 64
    assert a != cache_mod.key({"probe": "gradcam", "hparams": {"layer": "conv_2", "n": 2}})


def test_save_load_roundtrip_and_corruption(tmp_path):
    warnings = []
    c = Cache(tmp_path, warn=warnings.append)
    k = cache_mod.key({"x": 1})
    c.save("p", "m", k, {"a": np.arange(6.0).reshape(2, 3)}, {"probe": "p"})
    np.testing.assert_array_equal(c.load("p", "m", k)["a"], np.arange(6.0).reshape(2, 3))
    assert not list(tmp_path.rglob("*.tmp"))  # temp files renamed away
    npz = next(tmp_path.rglob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:40])  # truncate
    assert c.load("p", "m", k) is None
    assert warnings and "unreadable" in warnings[0] and "recomputing" in warnings[0]
    assert c.load("p", "m", cache_mod.key({"x": 2})) is None  # plain miss: no warning
    assert len(warnings) == 1


def _samples(n):
    xs = np.asarray(jax.random.uniform(jax.random.key(5), (n, 8, 8, 1)))
    return [Sample(f"s{i}", xs[i], i % 5, "test") for i in range(n)]


def test_cache_hits_second_time_and_misses_on_new_hparams(tiny_net, tmp_path):
    samples = _samples(3)

    def ctx():
        return ComputeContext(Cache(tmp_path), tiny_net, "w0", seed=0, memory_mb=64)

    hp = {"layers": ["conv_b"], "classes": "all"}
    first = ctx()
    acts = run_activations(first, samples)
    maps1 = run_attribution(first, PROBES["gradcam"], hp, samples, acts)
    assert first.counts == {"activations": [3, 0], "gradcam": [3, 0]}

    second = ctx()
    acts2 = run_activations(second, samples)
    maps2 = run_attribution(second, PROBES["gradcam"], hp, samples, acts2)
    assert second.counts == {"activations": [0, 3], "gradcam": [0, 3]}
    np.testing.assert_array_equal(maps1["conv_b"]["s1"]["maps"], maps2["conv_b"]["s1"]["maps"])

    third = ctx()
    run_attribution(third, PROBES["gradcam"], {**hp, "layers": ["conv_a"]}, samples, acts2)
    assert third.counts == {"gradcam": [3, 0]}

    # One new sample: only it is computed.
    fourth = ctx()
    more = [*samples, Sample("new", np.zeros((8, 8, 1), np.float32), 0, "test")]
    run_attribution(fourth, PROBES["gradcam"], hp, more, {**acts2, **run_activations(fourth, more)})
    assert fourth.counts == {"activations": [1, 3], "gradcam": [1, 3]}


def test_weights_change_misses(tiny_net, tmp_path):
    samples = _samples(2)
    a = ComputeContext(Cache(tmp_path), tiny_net, "w0", seed=0, memory_mb=64)
    run_activations(a, samples)
    b = ComputeContext(Cache(tmp_path), tiny_net, "w1", seed=0, memory_mb=64)
    run_activations(b, samples)
    assert b.counts == {"activations": [2, 0]}
