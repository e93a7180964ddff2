"""Content-addressed cache: stable keys, atomic entries, corrupt entries recomputed, hits and misses."""

import json

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
    data = next(tmp_path.rglob("*.bin"))
    good = data.read_bytes()
    data.write_bytes(good[:40])  # truncate
    assert c.load("p", "m", k) is None
    assert warnings and "unreadable" in warnings[0] and "recomputing" in warnings[0]
    assert c.load("p", "m", cache_mod.key({"x": 2})) is None  # plain miss: no warning
    assert len(warnings) == 1
    data.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, one bit flipped
    assert c.load("p", "m", k) is None and "CRC-32" in warnings[1]


def test_pack_layout_dtypes_alignment_and_writable_arrays(tmp_path):
    arrays = {
        "z": np.arange(7, dtype=np.uint8),
        "a": np.arange(12, dtype=">f8").reshape(3, 4)[:, ::2],  # big-endian, not contiguous
        "s": np.float32(2.5),  # 0-d
        "e": np.zeros((0, 3), np.int16),
    }
    c = Cache(tmp_path)
    c.save("p", "m", "k" * 64, arrays, {})
    got = c.load("p", "m", "k" * 64)
    assert sorted(got) == sorted(arrays)
    for name, a in arrays.items():
        assert got[name].dtype == np.asarray(a).dtype and got[name].shape == np.shape(a)
        np.testing.assert_array_equal(got[name], a)
        assert got[name].flags.writeable
        assert got[name].base is None  # its own buffer: keeping it keeps no other array alive
    layout = json.loads((tmp_path / "p" / "m" / f"{'k' * 16}.json").read_text())["layout"]
    assert all(offset % 64 == 0 for _, _, offset in layout.values())


def test_entries_stored_as_npz_by_earlier_versions_are_read(tmp_path):

    c = Cache(tmp_path)
    k = cache_mod.key({"old": 1})
    side = tmp_path / "p" / "m" / f"{k[:16]}.json"
    side.parent.mkdir(parents=True)
    np.savez(side.with_suffix(".npz"), a=np.arange(4.0))
    side.write_text(json.dumps({"key": k, "arrays": {"a": [4]}}))
    assert c.has("p", "m", k)
    np.testing.assert_array_equal(c.load("p", "m", k)["a"], np.arange(4.0))
    c.save("p", "m", k, {"a": np.arange(4.0) + 1}, {})  # rewritten in the new layout
    assert not side.with_suffix(".npz").exists() and side.with_suffix(".bin").exists()
    np.testing.assert_array_equal(c.load("p", "m", k)["a"], np.arange(4.0) + 1)


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

    # One new sample: only it is computed, and the status line names what runs.
    fourth, said = ctx(), []
    fourth.status = said.append
    more = [*samples, Sample("new", np.zeros((8, 8, 1), np.float32), 0, "test")]
    run_attribution(fourth, PROBES["gradcam"], hp, more, {**acts2, **run_activations(fourth, more)})
    assert fourth.counts == {"activations": [1, 3], "gradcam": [1, 3]}
    assert said == ["Activations: 0 of 1 samples", "Grad-CAM at conv_b: 0 of 1 samples"]


def test_calls_see_one_batch_size_however_many_samples_miss(tiny_net, tmp_path, monkeypatch):
    """A sample's cached artifacts must not depend on how many samples were missing when they
    were computed (XLA:CPU rounds by batch size): 1, 5 or 20 misses, every batched call gets
    SAMPLE_CHUNK samples, and a map computed alone equals the same map computed with others."""
    from cnnatlas import compute
    from cnnatlas.batching import SAMPLE_CHUNK

    batches, real = [], compute.map_chunks

    def spy(fn, arrays, chunk, **kw):
        def seen(*a):
            batches.append(len(a[0]))
            return fn(*a)

        return real(seen, arrays, chunk, **kw)

    monkeypatch.setattr(compute, "map_chunks", spy)
    hp = {"layers": ["conv_b"], "classes": "all"}
    samples, maps = _samples(20), {}
    for n in (1, 5, 20):
        ctx = ComputeContext(Cache(tmp_path / str(n)), tiny_net, "w0", seed=0, memory_mb=64)
        acts = run_activations(ctx, samples[:n])
        maps[n] = run_attribution(ctx, PROBES["gradcam"], hp, samples[:n], acts)["conv_b"]
    assert batches and set(batches) == {SAMPLE_CHUNK}
    for n in (5, 20):
        np.testing.assert_array_equal(maps[n]["s0"]["maps"], maps[1]["s0"]["maps"])


def test_weights_change_misses(tiny_net, tmp_path):
    samples = _samples(2)
    a = ComputeContext(Cache(tmp_path), tiny_net, "w0", seed=0, memory_mb=64)
    run_activations(a, samples)
    b = ComputeContext(Cache(tmp_path), tiny_net, "w1", seed=0, memory_mb=64)
    run_activations(b, samples)
    assert b.counts == {"activations": [2, 0]}


def test_misses_are_stored_group_by_group_and_read_back_lazily(tiny_net, tmp_path, monkeypatch):
    """Issue 10: a cold computation holds one memory-budget group of results at a time, and the
    returned mapping reads entries back on demand; values equal one all-at-once computation."""
    from cnnatlas import compute

    samples = _samples(5)
    ref = run_activations(ComputeContext(Cache(tmp_path / "a"), tiny_net, "w0", 0, 64), samples)
    ref = {s.id: dict(ref[s.id]) for s in samples}
    monkeypatch.setattr(compute, "_bytes_per_example", lambda net, t: 2**20)  # 1 MiB each
    sizes, real = [], compute.map_chunks

    def spy(fn, arrays, chunk, **kw):
        sizes.append(len(arrays[0]))
        return real(fn, arrays, chunk, **kw)

    monkeypatch.setattr(compute, "map_chunks", spy)
    ctx = ComputeContext(Cache(tmp_path / "b"), tiny_net, "w0", seed=0, memory_mb=2)
    lazy = run_activations(ctx, samples)
    assert sizes == [2, 2, 1]  # budget 2 MiB / 1 MiB per sample: groups of 2
    assert ctx.memo.size == 0 and list(lazy) == [s.id for s in samples]
    for s in samples:
        got = lazy[s.id]
        assert sorted(got) == sorted(ref[s.id])
        for name, arr in ref[s.id].items():
            np.testing.assert_allclose(got[name], arr, rtol=1e-6, atol=1e-7)
    assert ctx.memo.size <= 2 * 2**20


def test_memo_keeps_the_most_recent_entries_within_its_budget():
    from cnnatlas.compute import ArrayMemo

    memo = ArrayMemo(budget=1000)
    blob = lambda: {"a": np.zeros(100, np.float32)}  # noqa: E731 (400 bytes)
    memo.put("x", blob())
    memo.put("y", blob())
    assert memo.get("x") is not None  # x is now the most recent
    memo.put("z", blob())  # 1200 bytes: the least recent (y) goes
    assert memo.get("y") is None and memo.get("x") is not None and memo.get("z") is not None
    assert memo.size == 800


def test_entry_unreadable_after_planning_is_recomputed_on_access(tiny_net, tmp_path):
    samples = _samples(2)
    warnings = []
    ctx = ComputeContext(Cache(tmp_path, warn=warnings.append), tiny_net, "w0", 0, 64)
    first = {k: v.copy() for k, v in run_activations(ctx, samples)["s1"].items()}
    ctx = ComputeContext(Cache(tmp_path, warn=warnings.append), tiny_net, "w0", 0, 64)
    lazy = run_activations(ctx, samples)  # planned: both entries present
    assert ctx.counts == {"activations": [0, 2]}
    for data in tmp_path.rglob("*.bin"):
        data.write_bytes(data.read_bytes()[:40])
    again = lazy["s1"]
    assert warnings and "unreadable" in warnings[0]
    assert ctx.counts == {"activations": [1, 1]}
    for name, arr in first.items():  # alone, not in a batch of 2: equal up to rounding
        np.testing.assert_allclose(again[name], arr, rtol=1e-5, atol=1e-7)
